"""Each step on crafted cases whose answer is known."""

from __future__ import annotations

import unicodedata

from imitkit.registry.evalsets import EvalItem, register
from imitkit.registry.records import message

from curation_helpers import conv, verdicts

SHAREGPT_HTML = (
    '<div class="markdown prose"><p>Here is the function:</p><pre><div class="bg-black"><div class="flex">'
    '<span>python</span><button>Copy code</button></div><div><code class="language-python">def add(a, b):\n'
    '    return a + b\n</code></div></div></pre><ol><li><p>It adds <strong>two</strong> numbers.</p></li></ol></div>'
)


def test_normalize_html_artefacts_unicode_and_empty_messages(registry, add, curate):
    decomposed = unicodedata.normalize("NFD", "Café crème")
    ids = add([
        conv("Write an add function in Python", SHAREGPT_HTML),
        conv("1 / 2 hello", "2 / 2\n\nAnswer with pager  \r\n\n\n\nand Copy12 chars / 3 words counter"),
        [message("user", decomposed), message("assistant", " \u200b "), message("assistant", "Une réponse.")],
        conv("Show code <div> in a block", "```html\n<div><p>kept as code</p></div>\n```"),
    ])
    curate("normalize")
    rows = {r["id"]: r for r in registry.rows("SELECT id, messages, raw_messages FROM conversations")}
    html = rows[ids[0]]["messages"][1]["content"]
    assert "<div" not in html and "Copy code" not in html
    assert "```python\ndef add(a, b):" in html and "**two**" in html
    pager = rows[ids[1]]["messages"][1]["content"]
    assert pager == "Answer with pager\n\nand  counter"
    assert rows[ids[2]]["messages"][0]["content"] == "Café crème" and len(rows[ids[2]]["messages"]) == 2
    assert rows[ids[2]]["raw_messages"][0]["content"] == decomposed  # raw never overwritten
    assert rows[ids[3]]["messages"][1]["content"] == "```html\n<div><p>kept as code</p></div>\n```"
    v = verdicts(registry, "normalize")
    assert v[ids[0]]["details"]["html"] == 1 and v[ids[2]]["details"]["removed"] == 1
    assert all(x["keep"] for x in v.values())


def test_structure_merges_trims_and_drops(registry, add, curate):
    ids = add([
        [message("assistant", "Hi! I'm a leading greeting."), message("user", "First part."), message("user", "Second part."),
         message("assistant", "An answer long enough."), message("user", "a trailing question?")],
        [message("user", "Only a question with no answer at all")],
        conv("hi", "yo"),
        [message("system", "Be brief."), message("user", "What is 2+2?"), message("assistant", "It is 4, of course.")],
    ])
    curate("structure")
    v = verdicts(registry, "structure")
    assert v[ids[0]]["keep"] and v[ids[0]]["details"] == {"merged": 1, "dropped_leading": 1, "dropped_trailing": 1}
    assert (v[ids[1]]["keep"], v[ids[1]]["reason"]) == (False, "no user->assistant pair")
    assert (v[ids[2]]["keep"], v[ids[2]]["reason"]) == (False, "too short")
    assert v[ids[3]]["keep"] and not v[ids[3]]["details"]
    msgs = registry.rows("SELECT messages, n_turns FROM conversations WHERE id = ?", [ids[0]])[0]
    assert [m["role"] for m in msgs["messages"]] == ["user", "assistant"] and msgs["n_turns"] == 2
    assert msgs["messages"][0]["content"] == "First part.\n\nSecond part."


def test_leaks_whole_words_assistant_only(registry, add, curate):
    ids = add([
        conv("Who made you?", "As an AI language model trained by OpenAI, I cannot say."),
        conv("Tell me about reopenaiified things", "The word 'chatgpts' and 'ReOpenAI' are not the brand."),
        conv("Is ChatGPT good?", "It is a chatbot; opinions differ."),  # the user may say it
        conv("Which model?", "I am based on GPT-3.5 and my knowledge   cutoff is 2021."),
        conv("Load it", "Too many requests in 1 hour. Try again later."),
    ])
    curate("leaks")
    v = verdicts(registry, "leaks")
    assert (v[ids[0]]["keep"], v[ids[0]]["reason"]) == (False, "leak: as an AI language model")
    assert v[ids[0]]["details"]["matches"] == {"as an AI language model": 1, "OpenAI": 1}
    assert v[ids[1]]["keep"] and v[ids[2]]["keep"]
    assert v[ids[3]]["reason"] == "leak: GPT-3.5" and v[ids[3]]["details"]["matches"]["my knowledge cutoff"] == 1
    assert v[ids[4]]["reason"] == "leak: Too many requests in 1 hour"


def test_refusals_opt_in_and_extra_phrases(registry, add, curate):
    ids = add([conv("Do a bad thing", "I'm sorry, but I cannot help with that."), conv("Hi there", "Hello, friend!")])
    results = curate("refusals", "refusals.extra_phrases=[friend]")
    assert "refusals" in results
    v = verdicts(registry, "refusals")
    assert v[ids[0]]["reason"] == "refusal: I'm sorry, but I cannot" and v[ids[1]]["reason"] == "refusal: friend"
    assert registry.scalar("SELECT count(*) FROM t_curation_pipeline WHERE step = 'refusals'") == 1


def test_repetition_degenerate_outputs(registry, add, curate):
    loop = " ".join(["I will keep saying the same sentence over and over again."] * 40)
    ids = add([
        conv("Count", "\n".join(["This line is repeated forever."] * 30)),
        conv("Talk", loop),
        conv("Pi?", "3." + "1415926535" * 20),
        conv("Scream", "A" * 300),
        conv("Table", "| a | b |\n|---|---|\n" + "\n".join(f"| row {i} | value {i * 7} |" for i in range(40))),
        conv("Code", "```python\n" + "\n".join(f"x{i} = compute({i})" for i in range(50)) + "\n```"),
    ])
    curate("repetition")
    v = verdicts(registry, "repetition")
    assert [v[i]["reason"] for i in ids] == ["repeated line", "repeated n-grams", "digit run", "character run", None, None]


def test_pii_masks_with_placeholders(registry, add, curate):
    ids = add([conv("Mail me at jane.doe@example.com or call +1 415-555-0132",
                    "Use key sk-abcdefghijklmnopqrstuvwxyz123456 and not 3.14 or 2023-10-01.")])
    curate("pii")
    msgs = registry.rows("SELECT messages FROM conversations WHERE id = ?", [ids[0]])[0]["messages"]
    assert msgs[0]["content"] == "Mail me at <EMAIL> or call <PHONE>"
    assert msgs[1]["content"] == "Use key <API_KEY> and not 3.14 or 2023-10-01."
    assert verdicts(registry, "pii")[ids[0]]["details"] == {"email": 1, "phone": 1, "api_key": 1}


def test_split_long_parts_with_lineage(registry, add, curate):
    turns = [f"Question {i}: " + "word " * 60 for i in range(6)]
    answers = [f"Answer {i}: " + "reply " * 100 for i in range(6)]
    long = [message("system", "Be helpful.")] + [m for q, a in zip(turns, answers) for m in conv(q, a)]
    ids = add([long, conv("short question here", "short answer here")])
    curate("split_long", "split_long.max_tokens=400")
    v = verdicts(registry, "split_long")
    assert (v[ids[0]]["keep"], v[ids[0]]["reason"]) == (False, "split into parts")
    assert v[ids[0]]["details"]["approximate"] is True and v[ids[1]]["keep"]
    parts = registry.rows("SELECT id, messages, metadata FROM conversations WHERE json_extract_string(metadata, '$.parent_id') = ? "
                          "ORDER BY CAST(json_extract(metadata, '$.part') AS INTEGER)", [ids[0]])
    assert [p["id"] for p in parts] == v[ids[0]]["details"]["parts"] and len(parts) >= 3
    for p in parts:
        assert p["messages"][0]["role"] == "system" and p["messages"][1]["role"] == "user"
    rebuilt = [m for p in parts for m in p["messages"][1:]]
    assert [m["content"] for m in rebuilt] == [m["content"] for m in long[1:]]
    kept = {r["id"] for r in registry.rows("SELECT id FROM conversations WHERE kept")}
    assert ids[0] not in kept and all(p["id"] in kept for p in parts)


def test_language_mixed_and_two_stage(registry, add, curate):
    en = "Could you please explain how photosynthesis works in green plants and why it matters?"
    en_answer = "Photosynthesis converts light energy into chemical energy stored in sugars, releasing oxygen."
    ru = "Фотосинтез превращает энергию света в химическую энергию, запасённую в сахарах, и выделяет кислород."
    zh = "请详细解释一下植物的光合作用是如何进行的，以及它为什么对地球上的生命如此重要。"
    ids = add([conv(en, en_answer), conv(zh, "光合作用将光能转化为储存在糖中的化学能，并释放氧气。"), conv(en, ru)])
    curate("language", "language.keep=[en, ru]")
    v = verdicts(registry, "language")
    assert v[ids[0]]["keep"] and v[ids[0]]["details"]["lang"] == "en" and v[ids[0]]["details"]["prob"] >= 0.8
    assert (v[ids[1]]["keep"], v[ids[1]]["reason"]) == (False, "language zh")
    mixed = v[ids[2]]["details"]
    assert mixed["mixed"] is True and mixed["user"]["lang"] == "en" and mixed["assistant"]["lang"] == "ru"
    langs = dict(registry.query("SELECT id, lang FROM conversations").fetchall())
    assert langs[ids[0]] == "en" and langs[ids[1]] == "zh"


def test_language_detector_options_agree_on_clear_text(registry, add, curate):
    ids = add([conv("Bonjour, pouvez-vous m'expliquer comment fonctionne la photosynthèse des plantes ?",
                    "La photosynthèse transforme l'énergie lumineuse en énergie chimique stockée dans les sucres.")])
    for detector in ("fasttext", "langdetect", "two_stage"):
        curate("language", f"language.detector={detector}", "language.keep=[]")
        d = verdicts(registry, "language")[ids[0]]["details"]
        assert d["lang"] == "fr", detector


def test_decontaminate_nq_question_in_prompt(registry, add, curate):
    register(registry, "nq", [EvalItem("q1", "who sang does he love me with reba"),
                              EvalItem("q2", "when was the first harry potter book published in the uk"),
                              EvalItem("q3", "what is")], task="nq")
    mmlu = ("The longest bone in the human body is found in which part of the body, and what is the name "
            "commonly used for this bone in anatomy textbooks?")
    register(registry, "mmlu", [EvalItem("anatomy-7", mmlu)], task="mmlu")
    ids = add([
        conv("Quiz time! Who sang 'Does He Love Me' with Reba? Answer briefly.", "Linda Davis."),
        conv("Tell me: when was the first Harry Potter book published in the UK, roughly", "1997."),
        conv("Help me study. " + " ".join(mmlu.split()[:15]) + " something else entirely", "The femur."),
        conv("What is love?", "Baby don't hurt me."),  # the 2-word item is too short to count
        conv("Reba sang with whom on that 1993 duet?", "Linda Davis."),
    ])
    curate("decontaminate")
    v = verdicts(registry, "decontaminate")
    assert v[ids[0]]["details"] == {"evalset": "nq", "item_id": "q1", "match": "exact", "n": 8,
                                    "matched": v[ids[0]]["details"]["matched"]}
    assert v[ids[0]]["reason"] == "contaminated: nq"
    assert v[ids[1]]["details"]["match"] == "exact" and v[ids[1]]["details"]["item_id"] == "q2"
    assert v[ids[2]]["details"]["evalset"] == "mmlu" and v[ids[2]]["details"]["match"] == "ngram"
    assert v[ids[2]]["details"]["n"] == 13
    assert v[ids[3]]["keep"] and v[ids[4]]["keep"]


def test_decontaminate_skipped_without_evalsets(registry, add, curate):
    add([conv("Hello there, how are you?", "Fine, thanks.")])
    assert curate("decontaminate")["decontaminate"].skipped
    assert registry.scalar("SELECT count(*) FROM t_verdict WHERE step = 'decontaminate'") == 0
