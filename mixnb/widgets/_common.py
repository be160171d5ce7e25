"""Pieces the widgets share: debouncing, messages and the offline chart HTML."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from typing import Any

MESSAGE_STYLE = (
    "margin: 6px 0; padding: 6px 10px; border-left: 3px solid var(--jp-error-color1, #d32f2f); "
    "background: rgba(211, 47, 47, 0.10); border-radius: 0 3px 3px 0; white-space: pre-wrap; "
    "color: var(--jp-content-font-color1, inherit); font-size: 13px;"
)
INFO_STYLE = "opacity: 0.75; font-size: 12px;"
CODE_STYLE = (
    "font-family: var(--jp-code-font-family, ui-monospace, Menlo, Consolas, monospace); "
    "font-size: 13px; background: rgba(128, 128, 128, 0.12); padding: 2px 7px; "
    "border-radius: 3px; color: var(--jp-content-font-color1, inherit);"
)


def slider(
    value: float, low: float, high: float, text: str, *, style: dict, layout: Any, step=None
) -> Any:
    """A labelled slider that reports only when released (each report refits or redraws).

    Integer slider without ``step``, float slider with it.
    """
    import ipywidgets as widgets

    options = dict(
        value=value,
        min=low,
        max=high,
        description=text,
        style=style,
        layout=layout,
        continuous_update=False,
    )
    if step is None:
        return widgets.IntSlider(**options)
    return widgets.FloatSlider(step=step, **options)


def message_html(text: str) -> str:
    """A problem, in words, in a red-edged box (escaped)."""
    if not text:
        return ""
    return (
        f'<div class="mixnb-message" role="alert" style="{MESSAGE_STYLE}">{html.escape(text)}</div>'
    )


def chart_html(chart: Any) -> str:
    """An altair chart as inline SVG (no network), or a message if it cannot be drawn."""
    from mixnb.charts.render import to_svg

    try:
        return f'<div class="mixnb-chart">{to_svg(chart)}</div>'
    except Exception as exc:  # a chart problem must never break the widget
        return message_html(f"The chart could not be drawn: {exc}")


class Debouncer:
    """Run ``action`` once, ``delay`` seconds after the last of a burst of calls.

    Inside a running event loop (a Jupyter kernel) the call is deferred with
    ``loop.call_later``; without one (plain Python, tests) or with ``delay == 0`` it runs
    at once, so programmatic use stays synchronous and predictable.
    """

    def __init__(self, action: Callable[[], None], delay: float) -> None:
        self.action = action
        self.delay = delay
        self._handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        """Forget a pending call."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def __call__(self) -> None:
        self.cancel()
        loop = None
        if self.delay > 0:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        if loop is None:
            self.action()
        else:
            self._handle = loop.call_later(self.delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self.action()

    @property
    def pending(self) -> bool:
        return self._handle is not None
