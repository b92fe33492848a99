"""Amounts and counts on Chinese pages are grouped by thousands with a comma (¥12,345.00,
12,345 位客户), as Chinese invoices, banks and shop systems write them; Django's zh-Hans locale
groups by ten thousands without a separator. Every other format comes from Django's locale."""

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
