"""One citation style for the whole book: "Wen et al., 2018" in the text and in the list.

sphinxcontrib-bibtex cites author-year in the text (``bibtex_reference_style``), but labels the
list with pybtex's styles, whose labels are alphabetic ("WVB+18") or numbers. This registers a
pybtex style that labels each entry the way the text cites it; ``_config.yml`` selects it with
``bibtex_default_style: author_year``.
"""

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


class AuthorYearLabels(BaseLabelStyle):
    """Labels such as "Graves, 2011", "Kingma and Welling, 2014", "Wen et al., 2018"."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            names = [person.last_names[-1] for person in entry.persons.get("author", [])]
            if len(names) > 2:
                authors = f"{names[0]} et al."
            else:
                authors = " and ".join(names) or entry.key
            yield f"{authors}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearStyle(UnsrtStyle):
    """pybtex's unsrt entries, sorted by author and year, labelled as they are cited."""

    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


register_plugin("pybtex.style.labels", "author_year", AuthorYearLabels)
register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
