"""PDF documents: HTML rendered by WeasyPrint, with the CJK font every printed page uses.

The font is Noto Sans CJK (Debian ``fonts-noto-cjk``); WeasyPrint embeds the glyphs used as a
subset, so a Chinese document reads the same on a machine without the font. Templates set
``font-family`` from :data:`FONT_FAMILY` (charts drawn for print name :data:`CJK_FONT`), and
views send the document with :func:`pdf_response`::

    html = render_to_string("app/list_pdf.html", {"font_family": FONT_FAMILY, ...})
    data, pages = render_pdf(html)
    return pdf_response(data, "鹿阳县-2023-02-05-dispatch")

The page size and margins are the template's (``@page``).
"""

from __future__ import annotations

from django.http import HttpResponse

from ruralwatch.core.export import attach

#: The CJK font of printed documents and of the charts drawn for them.
CJK_FONT = "Noto Sans CJK SC"
#: The CSS font stack of printed documents (Latin text falls back to Noto Sans).
FONT_FAMILY = f'"{CJK_FONT}", "Noto Sans", sans-serif'
PDF_CONTENT_TYPE = "application/pdf"


def render_pdf(html: str, *, base_url: str | None = None) -> tuple[bytes, int]:
    """The HTML as a PDF (WeasyPrint) and its number of pages; ``base_url`` resolves the
    document's relative links and images."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=base_url).render()
    return document.write_pdf(), len(document.pages)


def pdf_response(data: bytes, filename: str) -> HttpResponse:
    """A PDF as an attachment named ``filename``.pdf (non-ASCII names per RFC 6266)."""
    return attach(HttpResponse(data, content_type=PDF_CONTENT_TYPE), filename, "pdf")
