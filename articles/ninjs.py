"""Articles as IPTC ninjs documents."""

# placeholder: replaced by the API slice's serializer

from .models import Article
from .seo import absolute

PUB_STATUS = {Article.State.PUBLISHED: "usable", Article.State.SCHEDULED: "withheld"}


def to_ninjs(article: Article, *, version: int = 3) -> dict:
    return {
        "uri": absolute(article.get_absolute_url()),
        "type": "text",
        "version": str(article.version),
        "headlines": [{"role": "main", "value": article.headline}],
        "pubStatus": PUB_STATUS.get(article.state, "canceled"),
    }
