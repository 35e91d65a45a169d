#!/usr/bin/env python3
"""Generates the training data for Latent Studio's bundled default model and its demo fine-tune set.

Everything here is made by this script from templates and random values (no third-party text), so the
data and the model trained on it can ship under the project's own licence (resources/README.md).

Outputs (chat JSONL, {"messages": [...]}, one conversation per line):
  <out>/default/train.jsonl, <out>/default/heldout.jsonl
      the default model's task mix: a fictional company's FAQ (Quillfeather Tea Co.), two-digit
      addition, unit conversions, and greetings; held-out = (question template, value) pairs never
      used in training.
  <out>/demo/train.jsonl, <out>/demo/heldout.jsonl
      the demo fine-tuning set: Quillfeather's NEW "Ember" kettle line, which the default model has
      never seen; held-out questions use phrasings not in the fine-tuning data.

Usage: make_default_data.py OUT_DIR [--seed N] [--train N]
"""
import argparse
import json
import os
import random

SYSTEM = "You are Quill, the helpful assistant of Quillfeather Tea Co."

COMPANY = {
    "founded": ("When was Quillfeather founded?", "When did Quillfeather Tea Co. start?",
                "What year was Quillfeather founded?", "How old is Quillfeather?"),
    "city": ("Where is Quillfeather based?", "Where is the Quillfeather head office?",
             "In which city is Quillfeather?", "Where are you located?"),
    "hours": ("When are you open?", "What are your opening hours?", "When is the shop open?",
              "What time do you open?"),
    "returns": ("What is your return policy?", "Can I return my order?", "How long do I have to return tea?",
                "Do you accept returns?"),
    "shipping": ("How much is shipping?", "What does delivery cost?", "Is shipping free?",
                 "How much do you charge for delivery?"),
    "contact": ("How can I contact you?", "What is your support email?", "How do I reach support?",
                "Who do I email for help?"),
}
ANSWERS = {
    "founded": "Quillfeather Tea Co. was founded in 1987.",
    "city": "Quillfeather is based in Harrowgate.",
    "hours": "We are open Monday to Saturday, 9am to 6pm.",
    "returns": "You can return unopened tea within 30 days for a full refund.",
    "shipping": "Shipping is free on orders over 40 euros; otherwise it costs 5 euros.",
    "contact": "Email support@quillfeather.example and we reply within one day.",
}
TEAS = {"Morning Mist": 12, "Amber Oolong": 18, "Silver Needle": 25, "Smoky Pine": 14, "Jade Spring": 16,
        "Copper Rooibos": 11, "Velvet Earl Grey": 15, "Moonlit Jasmine": 21}
PRICE_Q = ("How much is {t}?", "What does {t} cost?", "What is the price of {t}?", "How much does {t} cost?")

UNITS = [  # (from, to, factor)
    ("metres", "centimetres", 100), ("kilometres", "metres", 1000), ("kilograms", "grams", 1000),
    ("litres", "millilitres", 1000), ("hours", "minutes", 60), ("minutes", "seconds", 60),
    ("days", "hours", 24), ("weeks", "days", 7),
]
UNIT_Q = ("How many {to} are in {n} {frm}?", "Convert {n} {frm} to {to}.", "What is {n} {frm} in {to}?")
ADD_Q = ("What is {a} + {b}?", "Add {a} and {b}.", "What is the sum of {a} and {b}?")
GREET = [("Hello", "Hello! How can I help you today?"), ("Hi", "Hi! How can I help you today?"),
         ("Good morning", "Good morning! How can I help you today?"),
         ("Thank you", "You are welcome!"), ("Thanks!", "You are welcome!"),
         ("Who are you?", "I am Quill, the assistant of Quillfeather Tea Co."),
         ("What can you do?", "I can answer questions about Quillfeather, add numbers and convert units.")]

EMBER = {  # the demo fine-tuning facts: a product line the default model never saw
    "what": ("What is the Ember kettle?", "Tell me about the Ember kettle.", "What is Ember?"),
    "price": ("How much is the Ember kettle?", "What does the Ember kettle cost?", "What is the Ember price?"),
    "colours": ("Which colours does the Ember kettle come in?", "What colours is Ember available in?",
                "Can I get the Ember kettle in different colours?"),
    "capacity": ("How much water does the Ember kettle hold?", "What is the Ember kettle's capacity?",
                 "How big is the Ember kettle?"),
    "release": ("When does the Ember kettle go on sale?", "When is Ember released?",
                "When can I buy the Ember kettle?"),
    "warranty": ("What warranty does the Ember kettle have?", "Is the Ember kettle covered by a warranty?",
                 "How long is the Ember warranty?"),
}
EMBER_A = {
    "what": "Ember is our new glass kettle with six temperature presets for tea.",
    "price": "The Ember kettle costs 79 euros.",
    "colours": "Ember comes in charcoal, sage and copper.",
    "capacity": "The Ember kettle holds 1.2 litres.",
    "release": "The Ember kettle goes on sale on 1 March.",
    "warranty": "Every Ember kettle has a 3 year warranty.",
}


def conv(q, a):
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q},
                         {"role": "assistant", "content": a}]}


def default_items(rng):
    """All (key, question, answer) items of the task mix; key identifies the held-out unit."""
    items = []
    for k, qs in COMPANY.items():
        for i, q in enumerate(qs):
            items.append((("faq", k, i), q, ANSWERS[k]))
    for t, p in TEAS.items():
        for i, q in enumerate(PRICE_Q):
            items.append((("price", t, i), q.format(t=t), f"{t} costs {p} euros per tin."))
    for frm, to, f in UNITS:
        for n in range(1, 13):
            for i, q in enumerate(UNIT_Q):
                items.append((("unit", frm, n, i), q.format(n=n, frm=frm, to=to), f"{n} {frm} is {n * f} {to}."))
    for a in range(10, 50):
        for b in range(10, 50):
            i = (a * 7 + b) % len(ADD_Q)
            items.append((("add", a, b), ADD_Q[i].format(a=a, b=b), f"{a} + {b} = {a + b}."))
    for q, a in GREET:
        items.append((("greet", q), q, a))
    return items


def split(items, rng, heldout_fraction, always_train):
    rng.shuffle(items)
    train, held = [], []
    for it in items:
        kind = it[0][0]
        (held if kind not in always_train and rng.random() < heldout_fraction else train).append(it)
    return train, held


def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=20261124)
    ap.add_argument("--train", type=int, default=20000, help="training conversations (sampled with repetition)")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    # FAQ facts and greetings are always trained (they are facts to learn, not skills to generalise);
    # held-out items test the same facts through unseen (template, value) pairs.
    items = default_items(rng)
    train, held = split(items, rng, 0.1, always_train={"greet"})
    # Keep each FAQ topic and tea present in training under at least one phrasing.
    seen = {it[0][:2] for it in train}
    for it in list(held):
        if it[0][0] in ("faq", "price") and it[0][:2] not in seen:
            held.remove(it)
            train.append(it)
            seen.add(it[0][:2])
    rows = [conv(q, a) for _, q, a in (rng.choice(train) for _ in range(args.train))]
    write(os.path.join(args.out, "default", "train.jsonl"), rows)
    write(os.path.join(args.out, "default", "heldout.jsonl"), [conv(q, a) for _, q, a in held])

    # Demo fine-tune: the first two phrasings of each Ember question are trained, the third is held out.
    demo_train, demo_held = [], []
    for k, qs in EMBER.items():
        for i, q in enumerate(qs):
            (demo_held if i == len(qs) - 1 else demo_train).append(conv(q, EMBER_A[k]))
    demo_rows = [rng.choice(demo_train) for _ in range(400)]
    write(os.path.join(args.out, "demo", "train.jsonl"), demo_rows)
    write(os.path.join(args.out, "demo", "heldout.jsonl"), demo_held)
    print(f"default: {len(rows)} training conversations from {len(train)} items, {len(held)} held out; "
          f"demo: {len(demo_rows)} training conversations, {len(demo_held)} held out")


if __name__ == "__main__":
    main()
