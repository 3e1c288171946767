"""The keys of ``llm code``'s prompt for writing a message of several lines.

Enter sends. A newline is inserted by:

- ``\\`` then Enter: the backslash becomes the line break (as piped input reads a trailing ``\\``);
- Esc then Enter (Alt+Enter in most terminals);
- Shift+Enter, in terminals that report it apart from Enter: the kitty keyboard protocol's
  ``CSI 13;2u`` (kitty, WezTerm, foot, Ghostty; iTerm2 and others when set up to send it) and
  xterm's modifyOtherKeys ``CSI 27;2;13~``. Most terminals send plain Enter for Shift+Enter;
  there the two ways above remain.

Imported only when the interactive prompt is first shown (it needs prompt_toolkit).
"""

from __future__ import annotations

from prompt_toolkit.filters import Condition
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.keys import Keys

__all__ = ["prompt_key_bindings", "SHIFT_ENTER_SEQUENCES"]

#: What terminals send for Shift+Enter when they tell it apart from Enter.
SHIFT_ENTER_SEQUENCES = ("\x1b[13;2u", "\x1b[27;2;13~")


def _read_shift_enter_as_escape_enter() -> None:
    """Make prompt_toolkit's input parser read Shift+Enter as Esc, Enter (the newline key).

    Its table of escape sequences knows ``CSI 27;2;13~`` as plain Enter (which would send the
    message) and ``CSI 13;2u`` not at all (it would arrive as Esc and the letters ``[13;2u``).
    The table is global to prompt_toolkit; this process only ever reads ``llm code``'s prompts.
    """
    from prompt_toolkit.input import ansi_escape_sequences, vt100_parser

    for sequence in SHIFT_ENTER_SEQUENCES:
        ansi_escape_sequences.ANSI_SEQUENCES[sequence] = (Keys.Escape, Keys.ControlM)
    # The parser caches which inputs can start a longer sequence: forget what the old table said.
    vt100_parser._IS_PREFIX_OF_LONGER_MATCH_CACHE.clear()


def prompt_key_bindings() -> KeyBindings:
    """The bindings added to the prompt's defaults (Enter sends, Tab completes, history...)."""
    _read_shift_enter_as_escape_enter()
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event) -> None:
        event.current_buffer.insert_text("\n")

    @Condition
    def _after_backslash() -> bool:
        from prompt_toolkit.application import get_app

        return get_app().current_buffer.document.text_before_cursor.endswith("\\")

    @bindings.add("enter", filter=_after_backslash)
    def _continue_line(event) -> None:
        buffer = event.current_buffer
        buffer.delete_before_cursor(1)
        buffer.insert_text("\n")

    return bindings
