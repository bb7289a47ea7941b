"""Run reports: the mc.report/1 schema, its Markdown and HTML renderings, and `mc report compare`."""
