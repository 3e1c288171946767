"""A todo list stored as JSON."""
import json
from pathlib import Path


class TodoList:
    def __init__(self, path):
        self.path = Path(path)
        self.items = []
        if self.path.exists():
            self.items = json.loads(self.path.read_text())

    def save(self):
        self.path.write_text(json.dumps(self.items, indent=2))

    def add(self, title):
        item = {"title": title, "done": False}
        self.items.append(item)
        self.save()
        return item

    def complete(self, index):
        self.items[index]["done"] = True
        self.save()

    def pending(self):
        """Titles of the todos that are not done yet, in list order."""
        return [item["title"] for item in self.items if not item["done"]]
