"""Getting a document's text: PDFs, web pages, and fetching them safely.

:mod:`pdf` opens and extracts PDFs page by page; :mod:`webpage` turns HTML,
Markdown and text into sections; :mod:`textclean` tidies extracted text;
:mod:`fetch` downloads under ingestq's rules, with :mod:`netguard` keeping the
scraper out of private networks and :mod:`urls` checking URLs at submit time.
"""
