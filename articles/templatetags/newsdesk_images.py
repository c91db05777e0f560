"""`{% picture %}`: responsive images from renditions recorded on the row (no queries)."""

from django import template
from django.utils.html import conditional_escape as esc
from django.utils.safestring import mark_safe

from ..images import rendition_url, renditions_of

register = template.Library()

DEFAULT_SIZES = "100vw"


def _srcset(fieldfile, items):
    return ", ".join(f"{rendition_url(fieldfile, r)} {r['width']}w" for r in items)


@register.simple_tag
def picture(image, alt="", sizes=DEFAULT_SIZES, lazy=True, css_class=""):
    """A <picture> with a WebP source and a fallback <img> in the original's format, both with
    srcset/sizes; width and height reserve the space; below-the-fold images load lazily.
    Written in Python: it sits inside every lead card."""
    if not image:
        return ""
    items = sorted(renditions_of(image), key=lambda r: r["width"])
    webp = [r for r in items if r["format"] == "webp"]
    fallback = [r for r in items if r["format"] != "webp"] or webp
    if fallback:
        largest = fallback[-1]
        src, width, height = rendition_url(image, largest), largest["width"], largest["height"]
    else:
        # Not made yet (e.g. before `make_renditions`): the original still shows.
        src, width, height = image.url, _dimension(image, "width"), _dimension(image, "height")
    srcset = _srcset(image, fallback)
    webp_srcset = _srcset(image, webp) if webp is not fallback else ""
    out = ["<picture", f' class="{esc(css_class)}"' if css_class else "", ">"]
    if webp_srcset:
        out.append(f'<source type="image/webp" srcset="{esc(webp_srcset)}" sizes="{esc(sizes)}">')
    out.append(f'<img src="{esc(src)}"')
    if srcset:
        out.append(f' srcset="{esc(srcset)}" sizes="{esc(sizes)}"')
    if width and height:
        out.append(f' width="{esc(width)}" height="{esc(height)}"')
    loading = "lazy" if lazy else "eager"
    out.append(f' alt="{esc(alt)}" loading="{loading}" decoding="async"')
    if not lazy:
        out.append(' fetchpriority="high"')
    out.append("></picture>")
    return mark_safe("".join(out))


def _dimension(image, which):
    # The model keeps the original's size in <field>_width/_height: reading them opens no file.
    return getattr(image.instance, f"{image.field.name}_{which}", None)
