import json


def load_config(path="config.json"):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


if __name__ == "__main__":
    config = load_config()
    print(f"{config['app']['name']} on port {config['app']['port']}")
