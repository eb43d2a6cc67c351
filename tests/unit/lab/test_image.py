"""A lane (.ci/lane) has no route out: it never starts an image build, it names what to run."""

import pytest

from fabfile.errors import UserError
from fabfile.lab import image, settings


def test_a_lane_refuses_to_build_an_image_it_lacks(monkeypatch, tmp_path):
    monkeypatch.setattr(settings, "IMAGES", tmp_path)
    monkeypatch.setattr(settings, "LANE", "b")
    started = []
    monkeypatch.setattr(image, "_build", lambda *a: started.append(a))
    with pytest.raises(UserError, match="lane b cannot build it .* inv lab.images outside"):
        image.build(settings.Image("trixie"), say=lambda text: None)
    assert started == []


def test_a_lane_uses_an_image_built_outside_it(monkeypatch, tmp_path):
    monkeypatch.setattr(settings, "IMAGES", tmp_path)
    monkeypatch.setattr(settings, "LANE", "b")
    trixie = settings.Image("trixie")
    trixie.dir.mkdir()
    (trixie.dir / "stamp").write_text(image.recipe_id(trixie) + "\n")
    assert image.build(trixie, say=lambda text: None) is False


def test_outside_a_lane_a_missing_image_is_built(monkeypatch, tmp_path):
    monkeypatch.setattr(settings, "IMAGES", tmp_path)
    monkeypatch.setattr(settings, "LANE", "")
    started = []
    monkeypatch.setattr(image, "_build", lambda *a: started.append(a[0].release) or True)
    assert image.build(settings.Image("trixie"), say=lambda text: None) is True
    assert started == ["trixie"]
