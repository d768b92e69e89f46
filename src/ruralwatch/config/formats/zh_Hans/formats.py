"""Numbers in Chinese pages: groups of three digits with a comma (317,502), as China's
statistical publications (yearbooks, the health commission's bulletins) print them. Django's
zh_Hans locale has no separator at all, so 317502 showed as one run of digits. Every other
format (dates, input formats) falls through to Django's zh_Hans module."""

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
DECIMAL_SEPARATOR = "."
