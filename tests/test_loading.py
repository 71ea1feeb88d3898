"""The commands' one pipeline loader: each command's own error class, one line."""
from pathlib import Path

import pytest

from dtn_helpers import small_english_pipeline_name
from spacy_dtn.tools.loading import load_pipeline, one_line


class CommandError(Exception):
    pass


def test_a_missing_model_is_the_commands_error(tmp_path):
    with pytest.raises(CommandError, match="^Model not found: .*no_model is neither"):
        load_pipeline(tmp_path / "no_model", CommandError)


def test_a_directory_that_is_no_pipeline_is_one_line(tmp_path):
    (tmp_path / "config.cfg").write_text("[nlp]\nlang = \"xx_not_a_language\"\n", encoding="utf8")
    with pytest.raises(CommandError) as info:
        load_pipeline(tmp_path, CommandError)
    assert str(info.value).startswith(f"Can't load the pipeline {tmp_path}: ")
    assert "\n" not in str(info.value)


def test_an_installed_package_loads_by_name_as_a_string_or_a_path():
    """A CLI argument typed ``Path`` turns a package name into a Path: it loads all the same."""
    name = small_english_pipeline_name()
    for model in (name, Path(name)):
        nlp = load_pipeline(model, CommandError)
        assert f"{nlp.lang}_{nlp.meta['name']}" == name and "ner" in nlp.pipe_names


def test_one_line_keeps_the_first_sentence():
    assert one_line(ValueError("First part.\n  More advice. And more.")) == "First part"
    assert one_line(KeyError()) == "KeyError"
