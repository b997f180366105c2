"""User-behaviour sequences (failure case F24), the ranking and calibration metrics against hand-computed values,
and the time split of the next-action model: nothing from the held-out period reaches training."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from ecom_insights.users import (
    N_FEATURES,
    CandidateConfig,
    MarkovChain,
    NextActionConfig,
    _build,
    brier,
    calibration,
    calibration_error,
    candidates,
    encode_events,
    fit_next_action,
    hit_rate_at_k,
    ndcg_at_k,
    next_action_pairs,
    one_hot,
    pr_auc,
    roc_auc,
    synthetic_events,
    time_split,
)

from conftest import CASES, require

# F24: variable-length behaviour sequences


def f24():
    folder = require(CASES / "F24")
    params = yaml.safe_load((folder / "params.yaml").read_text(encoding="utf-8"))
    events = pd.read_csv(folder / "behavior_sequences.csv").rename(columns={"ts": "at"})
    return events, params, json.loads((folder / "expected.json").read_text(encoding="utf-8"))


def f24_pairs(events, params):
    ea = encode_events(events, vocab=params["action_vocab"])
    return ea, next_action_pairs(ea, max_len=params["max_len"])


def test_f24_pairs_and_shapes():
    events, params, exp = f24()
    ea, pairs = f24_pairs(events, params)
    assert len(pairs) == exp["training_pairs"]
    per_user = pd.Series(ea.users[pairs.user]).value_counts().reindex(ea.users, fill_value=0).to_dict()
    assert per_user == exp["pairs_per_user"] # U1 has no pair but is still a user
    assert list(pairs.action.shape) == exp["input_shape"]
    assert pairs.action.dtype.kind == "i"
    assert list(one_hot(pairs.action, len(params["action_vocab"]) + 1).shape) == exp["one_hot_input_shape"]
    targets = pd.Series([params["action_vocab"][t - 1] for t in pairs.target]).value_counts().to_dict()
    assert targets == exp["target_counts"]


def test_f24_padding_code_unused_by_actions():
    events, params, exp = f24()
    ea, pairs = f24_pairs(events, params)
    pad = exp["padding_index"]
    assert pad not in ea.action
    assert sorted(set(ea.action)) == [1, 2, 3, 4] # view is 1, not the padding code
    lengths = (pairs.action != pad).sum(1)
    assert lengths.min() == 1
    assert lengths.max() == params["max_len"]
    for row, n in zip(pairs.action, lengths): # left-padded: padding first, then the n real events
        assert (row[: len(row) - n] == pad).all()
        assert (row[len(row) - n:] != pad).all()


def test_f24_model_masks_padding():
    events, params, _ = f24()
    _, pairs = f24_pairs(events, params)
    cfg = NextActionConfig(max_len=params["max_len"], units=4)
    n_actions = len(params["action_vocab"])
    next_model = _build(n_actions, 0, 0, n_actions + N_FEATURES, cfg)[0]
    padded = pairs.action != 0
    codes = padded.astype(np.int32) # the single rare-item and rare-category code where there is an event
    clean = {"action": pairs.action.astype(np.int32), "item": codes, "category": codes,
             "numbers": np.zeros(pairs.action.shape + (3,), np.float32)}
    # other values in the padded steps of the item, category and number inputs must not change the prediction
    noisy = dict(clean, item=np.ones_like(codes), category=np.ones_like(codes),
                 numbers=np.where(padded[..., None], 0.0, np.full(3, 5.0)).astype(np.float32))
    assert np.allclose(next_model.predict(clean, verbose=0), next_model.predict(noisy, verbose=0), atol=1e-6)


def test_f24_tie_keeps_file_order():
    events, params, _ = f24()
    ea, pairs = f24_pairs(events, params)
    u5 = [params["action_vocab"][t - 1] for t, u in zip(pairs.target, pairs.user) if ea.users[u] == "U5"]
    assert u5 == ["view", "fav", "view", "cart", "cart", "buy", "view"] # 10:05 cart before 10:05 buy
    buy = next(i for i, (t, u) in enumerate(zip(pairs.target, pairs.user)) if ea.users[u] == "U5" and t == 4)
    assert pairs.action[buy].tolist() == [1, 3, 1, 2, 2] # view, fav, view, cart, cart: the tied cart comes first


def test_f24_interleaved_users_same_pairs():
    events, params, _ = f24()
    _, pairs = f24_pairs(events, params)
    # users interleaved (each user's own rows keep their relative order, so the tie still reads cart, buy)
    shuffled = events.assign(k=events.groupby("user_id").cumcount()).sort_values(["k", "user_id"], kind="stable").drop(columns="k")
    _, again = f24_pairs(shuffled, params)
    assert np.array_equal(pairs.action, again.action)
    assert np.array_equal(pairs.target, again.target)


# metrics against values worked out by hand


def test_roc_auc_by_hand():
    # positives score 0.8 and 0.35, negatives 0.4 and 0.1, so three of the four positive-negative pairs are ordered right
    assert roc_auc([1, 0, 1, 0], [0.8, 0.4, 0.35, 0.1]) == 0.75
    # three pairs are ordered right and the tie between 0.5 and 0.5 counts half: 3.5 / 4
    assert roc_auc([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1]) == 0.875
    assert math.isnan(roc_auc([1, 1], [0.1, 0.2]))


def test_pr_auc_by_hand():
    # ranked 1, 0, 1, 0: precision 1 at recall 0.5, then precision 2/3 at recall 1
    assert pr_auc([1, 0, 1, 0], [0.8, 0.4, 0.35, 0.1]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # rows 2 and 3 tie and form one threshold, so the second hit comes at precision 2/3, not 2/2
    assert pr_auc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # a constant score gives the positive rate
    assert pr_auc([1, 0, 0, 0, 0], [0.3] * 5) == pytest.approx(0.2)


def test_hit_rate_and_ndcg_by_hand():
    ranked = {"a": ["x", "y", "z"], "b": ["p", "q", "r"], "c": ["m", "n"], "d": ["s"]}
    relevant = {"a": {"y"}, "b": {"p", "r"}, "c": {"o"}, "d": set()} # d bought nothing and is left out
    assert hit_rate_at_k(ranked, relevant, k=1) == pytest.approx(1 / 3)
    assert hit_rate_at_k(ranked, relevant, k=3) == pytest.approx(2 / 3)
    a = (1 / math.log2(3)) / 1
    b = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(ranked, relevant, k=3) == pytest.approx((a + b + 0) / 3)


def test_calibration_by_hand():
    y, p = [0, 1, 0, 1, 1], [0.1, 0.1, 0.7, 0.9, 0.9]
    table = calibration(y, p, bins=2)
    assert table["count"].tolist() == [2, 3]
    assert table["predicted"].tolist() == pytest.approx([0.1, 2.5 / 3])
    assert table["observed"].tolist() == pytest.approx([0.5, 2 / 3])
    assert calibration_error(y, p, bins=2) == pytest.approx((2 * 0.4 + 3 * abs(2.5 / 3 - 2 / 3)) / 5)
    assert brier(y, p) == pytest.approx((0.01 + 0.81 + 0.49 + 0.01 + 0.01) / 5)


def test_markov_chain_by_hand():
    ea = encode_events(pd.DataFrame({"user_id": ["u"] * 5, "ts": range(5), "action": ["view", "view", "cart", "view", "buy"]}),
                       vocab=["view", "cart", "buy"])
    chain = MarkovChain.fit(next_action_pairs(ea, max_len=2), 3)
    # view is followed once each by view, cart and buy, so 2/6 each after adding one.
    # cart is followed once by view, so 2/4, 1/4, 1/4. buy is never followed, so 1/3 each.
    assert np.allclose(chain.transitions, [[2 / 6, 2 / 6, 2 / 6], [2 / 4, 1 / 4, 1 / 4], [1 / 3, 1 / 3, 1 / 3]])


# the time split: training reads only the past


def test_time_split_holds_out_the_end():
    ts = np.arange(0, 20 * 86400, 600)
    cutoff = time_split(ts, holdout_days=5)
    assert cutoff == ts.max() - 5 * 86400
    assert (ts >= cutoff).sum() == 5 * 144 + 1
    assert time_split(ts, holdout_days=19) == pytest.approx(np.quantile(ts, 0.5))


def test_candidates_read_only_the_past():
    events = synthetic_events(users=30, days=20, seed=3)
    t = int(events["ts"].quantile(0.7))
    vocab = ["view", "cart", "buy"]
    before = candidates(events, t, vocab, CandidateConfig())
    future = events["ts"] >= t
    changed = events.copy()
    changed.loc[future, "item_id"] = "i999"
    changed.loc[future, "action"] = "buy"
    pd.testing.assert_frame_equal(candidates(changed, t, vocab, CandidateConfig()), before)


def test_training_ignores_the_held_out_period():
    events = synthetic_events(users=60, days=30, seed=1)
    cutoff = time_split(events["ts"], holdout_days=7)
    changed = events.copy()
    future = changed["ts"] >= cutoff
    changed.loc[future, "action"] = "buy" # a future full of buys of unseen items must change nothing
    changed.loc[future, "item_id"] = "i777"
    cfg = NextActionConfig(max_len=6, units=4, epochs=1, buy_epochs=1, max_pairs=2000, buy_windows=2)
    a, b = fit_next_action(events, cutoff, cfg), fit_next_action(changed, cutoff, cfg)
    assert a.train_events == b.train_events == int((events["ts"] < cutoff).sum())
    assert a.items == b.items
    assert a.vocab == b.vocab
    assert np.array_equal(a.markov.transitions, b.markov.transitions)
    for wa, wb in zip(a.buy_model.get_weights(), b.buy_model.get_weights()):
        assert np.allclose(wa, wb)
