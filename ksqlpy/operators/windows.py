"""Window assignment (stage: inside the aggregate operator): epoch-aligned UTC tumbling and
hopping windows, and the grace/retention rules that decide when a window closes."""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 86_400_000


@dataclass(frozen=True)
class WindowDef:
    kind: str                    # TUMBLING | HOPPING | SESSION
    size: int                    # ms; for SESSION the inactivity gap
    advance: int | None = None   # HOPPING
    grace: int | None = None     # None → ksqlDB's default max(24h - size, 0)
    retention: int | None = None

    @property
    def grace_ms(self) -> int:
        if self.grace is not None:
            return self.grace
        return max(DAY_MS - self.size, 0)

    def windows_for(self, ts: int) -> list[tuple[int, int]]:
        """(start, end) of every time window containing ``ts``; start inclusive, end exclusive,
        in ascending start order."""
        if self.kind == "TUMBLING":
            start = ts - ts % self.size
            return [(start, start + self.size)]
        advance = self.advance
        first = ts - ts % advance - self.size + advance
        first = max(first, 0)
        # advance to the first aligned start whose window still contains ts
        out = []
        start = first - first % advance if first % advance else first
        while start <= ts:
            if start + self.size > ts:
                out.append((start, start + self.size))
            start += advance
        return out

    def describe(self) -> str:
        if self.kind == "HOPPING":
            return f"HOPPING (SIZE {self.size} MILLISECONDS, ADVANCE BY {self.advance} MILLISECONDS)"
        if self.kind == "SESSION":
            return f"SESSION ({self.size} MILLISECONDS)"
        return f"TUMBLING (SIZE {self.size} MILLISECONDS)"
