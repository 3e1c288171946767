"""Harness adapters for bench/run_tasks.py: ours (llm code), published
(llm-coding-agent==0.1a0) and mini (mini-swe-agent)."""


def get_harness(name: str, **kwargs):
    if name == "ours":
        from .ours import OursHarness
        return OursHarness(python=kwargs.get("ours_python"), extra_args=kwargs.get("ours_args"))
    if name == "published":
        from .published import PublishedHarness
        return PublishedHarness()
    if name == "mini":
        from .mini import MiniHarness
        return MiniHarness()
    raise KeyError(f"unknown harness {name!r}; choose from {', '.join(HARNESS_NAMES)}")


HARNESS_NAMES = ("ours", "published", "mini")
