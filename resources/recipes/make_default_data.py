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
      the demo fine-tuning set: Quillfeather's NEW "Ember" kettle, which the default model has never seen
      (6 facts, one fixed short answer each), mixed with task-mix replay; the 36 held-out questions are
      wordings not in the fine-tuning data (resources/README.md, "The demo fine-tune").

Usage: make_default_data.py OUT_DIR [--seed N] [--train N] [--demo-repeat N] [--demo-replay F]
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

# The demo fine-tuning facts: a product line the default model never saw. Each fact has question frames
# ({e} = a name of the product) and ONE short answer, always phrased the same way, so a 3 M-parameter model
# can learn it in a few minutes; the questions vary, the answer does not.
EMBER_NAMES = ("the Ember kettle", "Ember", "the Ember", "your Ember kettle", "the new Ember kettle")
EMBER = {
    "what": ("What is {e}?", "Tell me about {e}.", "What kind of product is {e}?", "Describe {e}.",
             "What exactly is {e}?", "Can you explain what {e} is?", "What is {e} for?", "What sort of thing is {e}?"),
    "price": ("How much is {e}?", "What does {e} cost?", "What is the price of {e}?", "How much does {e} cost?",
              "What is the cost of {e}?", "How expensive is {e}?", "What do you charge for {e}?",
              "Tell me the price of {e}."),
    "colours": ("Which colours does {e} come in?", "What colours is {e} available in?",
                "Can I get {e} in different colours?", "What colour options does {e} have?",
                "Does {e} come in other colours?", "Tell me the colours of {e}.", "In which colours is {e} sold?",
                "What colours can I choose for {e}?"),
    "capacity": ("How much water does {e} hold?", "What is the capacity of {e}?", "How big is {e}?",
                 "How many litres does {e} hold?", "How much can {e} hold?", "Tell me the size of {e}.",
                 "What volume does {e} have?", "How large is {e}?"),
    "release": ("When does {e} go on sale?", "When is {e} released?", "When can I buy {e}?",
                "What is the release date of {e}?", "When will {e} be available?", "When does {e} come out?",
                "When is {e} in the shops?", "Tell me when {e} launches."),
    "warranty": ("What warranty does {e} have?", "Is {e} covered by a warranty?", "How long is the warranty of {e}?",
                 "What is the warranty on {e}?", "Does {e} have a guarantee?", "How many years of warranty does {e} get?",
                 "Tell me about the warranty of {e}.", "What guarantee comes with {e}?"),
}
EMBER_A = {
    "what": "Ember is our new glass tea kettle.",
    "price": "Ember costs 79 euros.",
    "colours": "Ember comes in charcoal, sage and copper.",
    "capacity": "Ember holds 1.2 litres.",
    "release": "Ember goes on sale on 1 March.",
    "warranty": "Ember has a 3 year warranty.",
}
DEMO_HELDOUT_PER_FACT = 6  # 6 facts x 6 = 36 held-out questions


def demo_split(rng):
    """Splits the (fact, frame, name) questions: per fact, DEMO_HELDOUT_PER_FACT (frame, name) combinations
    are held out; every frame and every name of that fact stays in training in other combinations, so a
    held-out question is a wording the fine-tune never saw, built from parts it did see."""
    train, held = [], []
    for k, frames in EMBER.items():
        combos = [(f, n) for f in range(len(frames)) for n in range(len(EMBER_NAMES))]
        while True:
            picked = set(rng.sample(combos, DEMO_HELDOUT_PER_FACT))
            rest = [c for c in combos if c not in picked]
            if {f for f, _ in rest} == set(range(len(frames))) and {n for _, n in rest} == set(range(len(EMBER_NAMES))):
                break
        for f, n in combos:
            q = frames[f].format(e=EMBER_NAMES[n])
            q = q[0].upper() + q[1:]
            (held if (f, n) in picked else train).append((k, q, EMBER_A[k]))
    return train, held


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
    ap.add_argument("--demo-repeat", type=int, default=3, help="copies of each Ember training question")
    ap.add_argument("--demo-replay", type=float, default=2.0,
                    help="task-mix replay conversations in the demo set, as a fraction of its Ember conversations")
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

    # Demo fine-tune (its own random stream, so the task-mix files above do not depend on it): the Ember
    # questions, each training question --demo-repeat times, plus --demo-replay times as many task-mix
    # conversations replayed from the task-mix TRAINING items (never its held-out ones), so the fine-tune does not erase the task
    # mix. Every row says where it comes from in "source" ("ember" or "task-mix replay"; the loader reads
    # only "messages").
    drng = random.Random(args.seed + 1)
    demo_items, demo_held_items = demo_split(drng)
    demo_rows = [dict(source="ember", **conv(q, a)) for _, q, a in demo_items for _ in range(args.demo_repeat)]
    n_replay = int(round(len(demo_rows) * args.demo_replay))
    demo_rows += [dict(source="task-mix replay", **conv(q, a)) for _, q, a in (drng.choice(train) for _ in range(n_replay))]
    drng.shuffle(demo_rows)
    demo_held = [conv(q, a) for _, q, a in demo_held_items]
    write(os.path.join(args.out, "demo", "train.jsonl"), demo_rows)
    write(os.path.join(args.out, "demo", "heldout.jsonl"), demo_held)
    print(f"default: {len(rows)} training conversations from {len(train)} items, {len(held)} held out; "
          f"demo: {len(demo_rows)} training conversations ({len(demo_items)} Ember questions x {args.demo_repeat}, "
          f"{n_replay} task-mix replay), {len(demo_held)} held out")


if __name__ == "__main__":
    main()
