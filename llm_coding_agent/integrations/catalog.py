"""What skills and custom commands share: everything found in lookup order (the project's first),
of which the project's count only once the project is trusted, and the first usable one of each
name wins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

__all__ = ["ProjectCatalog"]


class _Found(Protocol):
    name: str
    source: str


Item = TypeVar("Item", bound=_Found)


@dataclass
class ProjectCatalog(Generic[Item]):
    """Every item found, and which of them are offered."""

    found: list[Item] = field(default_factory=list)
    """In lookup order: the project's, the user's, the built-in ones."""
    warnings: list[str] = field(default_factory=list)
    """One line per file that could not be used (bad frontmatter and the like)."""
    project_trusted: bool = False
    """Whether the project's items count (see :mod:`.trust`)."""

    def usable(self, item: Item) -> bool:
        return item.source != "project" or self.project_trusted

    def offered(self) -> dict[str, Item]:
        """The items offered, by name: for each name the first usable one found."""
        offered: dict[str, Item] = {}
        for item in self.found:
            if self.usable(item):
                offered.setdefault(item.name, item)
        return offered

    @property
    def inactive(self) -> list[Item]:
        """The project's items left out because the project is not trusted."""
        return [item for item in self.found if not self.usable(item)]
