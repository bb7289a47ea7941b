"""Benching on the device itself over SSH (`mc bench --remote`): the system's OpenSSH client, a fresh
temporary folder on the device, the same bench worker there, the result brought back."""
