"""Writes `samples/customer_churn.csv`: a small, realistic-looking customer table with a
classification target (`churned`), for the demo and the tests. Deterministic (fixed seed).

    python3 -m uv run python -m samples.generate
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent / "customer_churn.csv"
ROWS = 600
PLANS = {"basic": 9.99, "standard": 19.99, "premium": 34.99}
REGIONS = ["north", "south", "east", "west"]


def customer(rng: random.Random, index: int) -> dict[str, object]:
    plan = rng.choices(list(PLANS), weights=[5, 3, 2])[0]
    tenure = rng.randint(1, 72)
    tickets = rng.choices(range(8), weights=[30, 25, 15, 10, 8, 6, 4, 2])[0]
    monthly = round(PLANS[plan] * rng.uniform(0.9, 1.3), 2)
    autopay = rng.random() < 0.6
    signup = date(2024, 12, 31) - timedelta(days=30 * tenure + rng.randint(0, 29))
    # Churn is likelier for short tenure, many tickets, no autopay and the basic plan.
    risk = (
        0.9
        - 0.03 * tenure
        + 0.25 * tickets
        - (0.6 if autopay else 0)
        - (0.3 if plan != "basic" else 0)
    )
    churned = rng.random() < 1 / (1 + 2.718 ** (-3 * risk))
    age = rng.randint(18, 80) if rng.random() > 0.05 else None  # a few unknown ages
    return {
        "customer_id": f"C{index:05d}",
        "signup_date": signup.isoformat(),
        "region": rng.choice(REGIONS),
        "plan": plan,
        "age": "" if age is None else age,
        "tenure_months": tenure,
        "monthly_charges": monthly,
        "support_tickets": tickets,
        "autopay": str(autopay).lower(),
        "churned": str(churned).lower(),
    }


def write_sample(path: Path = SAMPLE, rows: int = ROWS, seed: int = 7) -> Path:
    rng = random.Random(seed)
    records = [customer(rng, i) for i in range(1, rows + 1)]
    header = list(records[0])
    lines = [",".join(header)] + [",".join(str(r[c]) for c in header) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    print(write_sample())
