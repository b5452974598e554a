"""Sample CrossWOZ user turns as Chinese out-of-scope text (README.md says why and how).

Run in a directory holding CrossWOZ's val.json.zip and test.json.zip (named val.zip and
test.zip): python sample_crosswoz.py crosswoz_oos_train.csv crosswoz_oos_test.csv
"""

from __future__ import annotations

import csv
import json
import random
import sys
import zipfile


def sample(split: str, count: int, seed: int, out: str) -> None:
    """``count`` user turns of ``split``, one per dialogue, written to ``out``."""
    dialogs = json.loads(zipfile.ZipFile(f"{split}.zip").read(f"{split}.json"))
    rng = random.Random(seed)
    seen: set[str] = set()
    rows: list[tuple[str, str]] = []
    for dialog_id in sorted(dialogs, key=int):
        turns = [
            (index, message["content"].strip())
            for index, message in enumerate(dialogs[dialog_id]["messages"])
            if message["role"] == "usr"
        ]
        rng.shuffle(turns)
        for index, text in turns:  # one turn per dialogue: the first not seen before
            if 4 <= len(text) <= 80 and text not in seen:
                seen.add(text)
                rows.append((f"{split}:{dialog_id}:{index}", text))
                break
    rows = sorted(rng.sample(rows, count))
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["text", "category", "severity", "source"])
        for source, text in rows:
            writer.writerow([text, "other", "low", f"crosswoz/{source}"])


if __name__ == "__main__":
    sample("val", 400, 21, sys.argv[1])
    sample("test", 400, 21, sys.argv[2])
