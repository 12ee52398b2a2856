"""Mixture specs: budgets, components, YAML, and the errors a user gets before anything is written."""

import pytest

from imitkit.registry.mixspec import Component, SpecError, build_spec, parse_budget, parse_component


@pytest.mark.parametrize("text,tokens", [("300k", 300_000), ("1.5M", 1_500_000), ("150M", 150_000_000),
                                         ("2B", 2_000_000_000), ("1_000", 1000), (5000, 5000), ("all", None),
                                         ("ALL", None), ("10m", 10_000_000)])
def test_budgets(text, tokens):
    assert parse_budget(text) == tokens


@pytest.mark.parametrize("text", ["10X", "-5", "0", "", "1.5.2M", "M"])
def test_bad_budgets(text):
    with pytest.raises(SpecError, match="budget"):
        parse_budget(text)


def test_component_syntax_keeps_colons_in_sql():
    c = parse_component("code=0.25:source = 'a:b' AND n_turns > 1")
    assert (c.label, c.weight, c.where) == ("code", 0.25, "source = 'a:b' AND n_turns > 1")
    assert parse_component("all=1").where == "TRUE"
    with pytest.raises(SpecError, match="LABEL=WEIGHT"):
        parse_component("no-equals-sign")
    with pytest.raises(SpecError, match="not a number"):
        parse_component("a=half:TRUE")


def test_weights_must_sum_to_one_unless_all():
    comps = [Component("a", 0.5, "TRUE"), Component("b", 0.4, "TRUE")]
    with pytest.raises(SpecError, match=r"sum to 1.*a=0.5 \+ b=0.4 = 0.9"):
        build_spec(name="m", budget="1M", components=comps)
    assert build_spec(name="m", budget="all", components=comps).budget is None


@pytest.mark.parametrize("kwargs,message", [
    ({"name": "../escape"}, "snapshot name"),
    ({"eval_fraction": 1.0}, "eval fraction"),
    ({"components": [Component("a", 0.5), Component("a", 0.5)]}, "unique"),
    ({"components": [Component("a", -1.0)]}, "positive"),
    ({"components": []}, "at least one component"),
])
def test_invalid_specs(kwargs, message):
    values = {"name": "m", "budget": "1M", "components": [Component("a", 1.0)], **kwargs}
    with pytest.raises(SpecError, match=message):
        build_spec(**values)


def test_yaml_spec_with_cli_overrides(tmp_path):
    path = tmp_path / "mix.yaml"
    path.write_text("name: from-yaml\nbudget: 1.5M\nseed: 3\nunit: total\neval_fraction: 0.1\n"
                    "components:\n  chat: {weight: 0.7, where: \"source = 'a'\"}\n  code: \"0.3:source = 'b'\"\n")
    spec = build_spec(str(path), budget="2M", seed=None, name=None)
    assert (spec.name, spec.budget, spec.seed, spec.unit, spec.eval_fraction) == ("from-yaml", 2_000_000, 3, "total", 0.1)
    assert [(c.label, c.weight, c.where) for c in spec.components] == [("chat", 0.7, "source = 'a'"), ("code", 0.3, "source = 'b'")]


def test_yaml_unknown_keys_are_listed(tmp_path):
    path = tmp_path / "mix.yaml"
    path.write_text("name: x\nbudget: 1M\nbugdet: 2M\ncomponents: []\n")
    with pytest.raises(SpecError, match=r"unknown key\(s\) bugdet.*valid keys: name, budget"):
        build_spec(str(path))
    path.write_text("name: x\nbudget: 1M\ncomponents:\n  - {label: a, weight: 1, filter: TRUE}\n")
    with pytest.raises(SpecError, match="unknown key\\(s\\) filter in a component"):
        build_spec(str(path))
