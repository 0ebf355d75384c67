"""A resume whose audio record differs from the stored one (a file unreadable in one of the
runs) compared it for every configuration, and decoded the stored per-item map from the
store's JSON up to three times per configuration (store_data: _same_audio, _first_other_item,
the merged record): for a 300-configuration sweep of a 280k-utterance corpus, ~900 decodes of a ~10 MB map. A map
never changes once saved (its key is its digest), so the store now decodes each once."""
from __future__ import annotations

from speechbudget.sweep import store as store_module
from speechbudget.sweep.store import ResultsStore


def test_each_saved_map_is_decoded_once(tmp_path, monkeypatch):
    calls = []
    real = store_module.json_object

    def counting(text):
        calls.append(text)
        return real(text)
    with ResultsStore(tmp_path / "r.db") as st:
        st.save_item_audio("d1", {"a": "x1", "b": "unreadable"})
        st.save_item_audio("d2", {"a": "x2"})
        monkeypatch.setattr(store_module, "json_object", counting)
        for _ in range(5):
            assert st.item_audio("d1") == {"a": "x1", "b": "unreadable"}
            assert st.item_audio("d2") == {"a": "x2"}
            assert st.item_audio("d3") is None
        assert len(calls) == 2
