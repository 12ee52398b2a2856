"""Each format's converter, on crafted records where the answer is known."""

import json

import pytest

from imitkit.collectors import formats
from imitkit.collectors.errors import RecordError
from imitkit.registry.records import conversation_id

CTX = formats.FormatContext("teacher", None, "wiki_csai")


def roles(conv):
    return [m["role"] for m in conv.messages]


def test_sharegpt_role_vocabularies_and_system_field():
    record = {"id": "abc_3", "system": "be nice", "lang": "en", "conversations": [
        {"from": "human", "value": "hi"}, {"from": "chatgpt", "value": "hello"},
        {"from": "USER", "value": "and?"}, {"from": "bard", "value": "more"},
        {"from": "prompter", "value": "q"}, {"from": "model", "value": "a"},
        {"from": "bing", "value": "b"}]}
    [conv] = formats.sharegpt(record, CTX)
    assert roles(conv) == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "assistant"]
    assert conv.metadata == {"lang": "en", "split_parent": "abc", "split_index": 3}
    assert conv.record_id == "abc_3"


def test_sharegpt_function_call_and_observation_become_tool_call_and_tool():
    record = {"conversations": [
        {"from": "human", "value": "weather?"},
        {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
        {"from": "observation", "value": '{"temp": 20}'},
        {"from": "gpt", "value": "20 degrees"}], "tools": "[...]"}
    [conv] = formats.sharegpt(record, CTX)
    assert roles(conv) == ["user", "assistant", "tool", "assistant"]
    call = json.loads(conv.messages[1]["tool_calls"])[0]
    assert call["function"]["name"] == "get_weather" and json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert conv.metadata["tools"] == "[...]"


def test_system_turn_inside_the_list_and_empty_turns_are_kept():
    record = {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": ""},
                                {"from": "gpt", "value": None}, {"from": "human", "value": "last"}]}
    [conv] = formats.sharegpt(record, CTX)
    assert roles(conv) == ["system", "user", "assistant", "user"]  # ending on a user turn: curation decides
    assert conv.messages[2]["content"] == "" and conv.n_turns == 3


@pytest.mark.parametrize("record, reason", [
    ({"conversations": [{"from": "narrator", "value": "x"}]}, "unknown role 'narrator'"),
    ({"conversations": [{"from": "human", "value": 5}]}, "expected a string"),
    ({"conversations": "hello"}, "expected a list"),
    ({"conversations": []}, "no messages"),
    ({"text": "no turns here"}, "no 'conversations' list"),
    ({"conversations": [{"value": "x"}]}, "has no 'from' field"),
    ("just a string", "expected an object"),
])
def test_sharegpt_bad_records_say_why(record, reason):
    with pytest.raises(RecordError, match=reason):
        formats.sharegpt(record, CTX)


def test_messages_format_with_content_parts():
    record = {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                           {"role": "assistant", "content": "c"}], "id": 7}
    [conv] = formats.messages_format(record, CTX)
    assert conv.messages[0]["content"] == "ab" and conv.record_id == "7"


def test_hc3_one_conversation_per_answer_with_origin():
    record = {"question": "What is X?", "human_answers": ["h1", "h2"], "chatgpt_answers": ["c1"], "source": "open_qa"}
    convs = formats.hc3(record, CTX)
    assert [(c.origin, c.teacher_model, c.messages[1]["content"], c.part) for c in convs] == [
        ("human", None, "h1", 0), ("human", None, "h2", 1), ("teacher", "chatgpt", "c1", 2)]
    assert all(c.metadata["hc3_subset"] == "open_qa" for c in convs)
    [conv] = formats.hc3({"question": "q", "human_answers": [], "chatgpt_answers": ["c"]}, CTX)
    assert conv.metadata["hc3_subset"] == "wiki_csai"  # from the file name when no source field
    with pytest.raises(RecordError, match="no human or chatgpt answers"):
        formats.hc3({"question": "q", "human_answers": [], "chatgpt_answers": []}, CTX)


def test_alpaca_with_input_system_history_and_gpteacher_response():
    record = {"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "sys",
              "history": [["q1", "a1"]]}
    [conv] = formats.alpaca(record, CTX)
    assert roles(conv) == ["system", "user", "assistant", "user", "assistant"]
    assert conv.messages[3]["content"] == "Translate\n\nbonjour"
    [conv] = formats.alpaca({"instruction": "Do", "input": "", "response": "done"}, CTX)
    assert [m["content"] for m in conv.messages] == ["Do", "done"]
    with pytest.raises(RecordError, match="no 'output'"):
        formats.alpaca({"instruction": "x"}, CTX)


def test_oasst_every_root_to_leaf_path_skipping_deleted():
    def msg(mid, role, text, replies=(), **kw):
        return {"message_id": mid, "role": role, "text": text, "replies": list(replies), **kw}
    tree = {"message_tree_id": "t1", "prompt": msg("p", "prompter", "Q", [
        msg("a1", "assistant", "A1", [msg("f1", "prompter", "F1", [msg("a3", "assistant", "A3")])]),
        msg("a2", "assistant", "A2", synthetic=True, model_name="chip20b"),
        msg("a4", "assistant", "A4", deleted=True)])}
    convs = formats.oasst(tree, CTX)
    assert [[m["content"] for m in c.messages] for c in convs] == [["Q", "A1", "F1", "A3"], ["Q", "A2"]]
    assert [(c.origin, c.teacher_model) for c in convs] == [("human", None), ("teacher", "chip20b")]
    assert [c.part for c in convs] == [0, 1]


def test_sniff():
    assert formats.sniff({"conversations": []}) == "sharegpt"
    assert formats.sniff({"messages": [{"role": "user", "content": "x"}]}) == "messages"
    assert formats.sniff({"messages": [{"from": "human", "value": "x"}]}) == "sharegpt"
    assert formats.sniff({"question": "q", "human_answers": []}) == "hc3"
    assert formats.sniff({"instruction": "i", "input": "", "output": "o"}) == "alpaca"
    assert formats.sniff({"message_tree_id": "x", "prompt": {}}) == "oasst"
    assert formats.sniff({"foo": 1}) is None


def test_conversation_id_depends_on_messages_only():
    a = [{"role": "user", "content": "x", "tool_calls": None}]
    b = [{"role": "user", "content": "x"}]
    assert conversation_id(a) == conversation_id(b)
    assert conversation_id(a) != conversation_id([{"role": "assistant", "content": "x"}])
    assert conversation_id(a).startswith("c:") and len(conversation_id(a)) == 34
