"""Two versions' answers on the same texts, compared: agreement, flips, label-mix shift, labelled accuracy.

Pure functions over label sequences (scipy.stats for the tests); the replay before a promotion
(``deployment.replay``) and the shadow of production (``serving.shadow`` logs it, the dashboard and the
gate read it) both reduce to this comparison, and the gate's rules over it live here too.

>>> c = compare_answers(["positive", "negative", "neutral", "positive"],
...                     ["positive", "negative", "positive", "positive"],
...                     truth=["positive", None, "neutral", "negative"])
>>> c.n, c.agreement, c.flips["neutral"]["positive"], c.labelled
(4, 0.75, 1, 3)
>>> c.incumbent_accuracy, c.candidate_accuracy
(0.6667, 0.3333)
>>> [r.passed for r in comparison_rules(c, ReplayRules(min_labelled=1), what="replay")]
[True, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sentiment_mlops.deployment.policy import RuleResult
from sentiment_mlops.layout import LABELS

# Rule names, as they appear in reports, the history and the CLI table (the prefix says replay or shadow).
AGREEMENT = "agreement"
LABELLED_ACCURACY = "labelled_accuracy"


@dataclass(frozen=True)
class ReplayRules:
    """What the candidate's answers on logged traffic must show (``Settings.replay_*``).

    ``min_agreement``: share of texts on which candidate and incumbent agree. ``accuracy_alpha``: a drop in
    labelled accuracy refuses the candidate when a one-sided exact McNemar test (the texts both versions
    answered, pairs where exactly one of them is right) says it is significant at this level.
    ``min_labelled``: fewer labelled texts than this are reported but not tested.
    """

    min_agreement: float = 0.70
    accuracy_alpha: float = 0.05
    min_labelled: int = 30


@dataclass(frozen=True)
class Comparison:
    """The candidate's answers against the incumbent's on the same ``n`` texts.

    ``flips[a][b]`` counts texts the incumbent called ``a`` and the candidate ``b`` (the diagonal is
    agreement). ``label_shift_p`` is the chi-square test of the two predicted-label mixes (None when
    fewer than two labels occur). ``labelled`` texts have feedback; on them ``*_accuracy`` and
    ``accuracy_drop_p`` (one-sided: is the candidate worse?) are given, None without labels.
    """

    n: int
    agreement: float | None
    flips: dict[str, dict[str, int]]
    incumbent_mix: dict[str, int]
    candidate_mix: dict[str, int]
    label_shift_chi2: float | None
    label_shift_p: float | None
    labelled: int = 0
    incumbent_accuracy: float | None = None
    candidate_accuracy: float | None = None
    incumbent_only_right: int = 0
    candidate_only_right: int = 0
    accuracy_drop_p: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _label_order(*sequences: Sequence[str]) -> list[str]:
    seen = {label for sequence in sequences for label in sequence}
    return [*(label for label in LABELS if label in seen), *sorted(seen.difference(LABELS))]


def label_shift(incumbent: Sequence[str], candidate: Sequence[str]) -> tuple[float | None, float | None]:
    """Chi-square statistic and p-value of "both versions predict the same label mix" (None: < 2 labels).

    >>> label_shift(["positive"] * 50 + ["negative"] * 50, ["positive"] * 90 + ["negative"] * 10)[1] < 1e-6
    True
    >>> label_shift(["positive"] * 3, ["positive"] * 3)
    (None, None)
    """
    from scipy.stats import chi2_contingency

    labels = _label_order(incumbent, candidate)
    if len(labels) < 2 or not incumbent or not candidate:
        return None, None
    table = [[sum(1 for a in incumbent if a == label) for label in labels],
             [sum(1 for b in candidate if b == label) for label in labels]]
    result = chi2_contingency(table, correction=False)
    return round(float(result.statistic), 4), float(result.pvalue)


def accuracy_drop_p(incumbent_only_right: int, candidate_only_right: int) -> float | None:
    """One-sided exact McNemar p-value that the candidate is less accurate than the incumbent.

    Only the discordant pairs count: texts the incumbent got right and the candidate wrong, and the reverse.
    None when there are none (the two are equally accurate on these texts).

    >>> round(accuracy_drop_p(20, 4), 5), accuracy_drop_p(0, 0)
    (0.00077, None)
    """
    from scipy.stats import binomtest

    discordant = incumbent_only_right + candidate_only_right
    if discordant == 0:
        return None
    return float(binomtest(incumbent_only_right, discordant, 0.5, alternative="greater").pvalue)


def compare_answers(incumbent: Sequence[str], candidate: Sequence[str],
                    truth: Sequence[str | None] | None = None) -> Comparison:
    """Compare two versions' labels on the same texts; ``truth`` holds feedback labels (None: no label)."""
    if len(incumbent) != len(candidate) or (truth is not None and len(truth) != len(incumbent)):
        raise ValueError(f"the answers must cover the same texts, got {len(incumbent)} incumbent, "
                         f"{len(candidate)} candidate and {len(truth) if truth is not None else '-'} labels")
    n = len(incumbent)
    labels = _label_order(incumbent, candidate)
    flips = {a: {b: 0 for b in labels} for a in labels}
    for a, b in zip(incumbent, candidate, strict=True):
        flips[a][b] += 1
    agreed = sum(flips[label][label] for label in labels)
    chi2, p_value = label_shift(incumbent, candidate)
    comparison = Comparison(
        n=n, agreement=round(agreed / n, 4) if n else None, flips=flips,
        incumbent_mix={label: sum(flips[label].values()) for label in labels},
        candidate_mix={label: sum(flips[a][label] for a in labels) for label in labels},
        label_shift_chi2=chi2, label_shift_p=p_value)
    if truth is None:
        return comparison
    pairs = [(a, b, y) for a, b, y in zip(incumbent, candidate, truth, strict=True) if y is not None]
    if not pairs:
        return comparison
    incumbent_right = sum(1 for a, _, y in pairs if a == y)
    candidate_right = sum(1 for _, b, y in pairs if b == y)
    only_incumbent = sum(1 for a, b, y in pairs if a == y and b != y)
    only_candidate = sum(1 for a, b, y in pairs if b == y and a != y)
    return Comparison(**{
        **comparison.__dict__, "labelled": len(pairs),
        "incumbent_accuracy": round(incumbent_right / len(pairs), 4),
        "candidate_accuracy": round(candidate_right / len(pairs), 4),
        "incumbent_only_right": only_incumbent, "candidate_only_right": only_candidate,
        "accuracy_drop_p": accuracy_drop_p(only_incumbent, only_candidate)})


def comparison_rules(comparison: Comparison | None, rules: ReplayRules, *, what: str,
                     skipped_reason: str = "", explaining: Comparison | None = None) -> list[RuleResult]:
    """The gate's two rules over a comparison: ``{what}_agreement`` and ``{what}_labelled_accuracy``.

    ``comparison`` None (no traffic to replay, texts not kept): both pass, skipped, saying why.
    ``explaining``: the same answers compared on labels that can vouch for the candidate: given with a token, on
    texts no compared version trained on (``deployment.replay``). An agreement below the minimum passes when they
    explain it: at least ``min_labelled`` of them, and the candidate significantly more often right (one-sided
    exact McNemar, ``accuracy_alpha``) — a version retrained on a new domain's feedback is meant to disagree.

    >>> c = compare_answers(["negative"] * 60, ["negative"] * 20 + ["positive"] * 40, truth=["positive"] * 60)
    >>> [(r.name, r.passed) for r in comparison_rules(c, ReplayRules(), what="replay")]
    [('replay_agreement', False), ('replay_labelled_accuracy', True)]
    >>> comparison_rules(c, ReplayRules(), what="replay", explaining=c)[0].passed
    True
    """
    agreement_name, accuracy_name = f"{what}_{AGREEMENT}", f"{what}_{LABELLED_ACCURACY}"
    alpha = f"one-sided p >= {rules.accuracy_alpha:g}"
    if comparison is None or comparison.n == 0:
        reason = skipped_reason or f"no {what} evidence"
        return [RuleResult(agreement_name, None, rules.min_agreement, True, reason, skipped=True),
                RuleResult(accuracy_name, None, alpha, True, reason, skipped=True)]
    agreement = comparison.agreement if comparison.agreement is not None else 0.0
    agreement_detail = f"{comparison.n:,} texts; label mix shift chi2 p={_p(comparison.label_shift_p)}"
    agreed = agreement >= rules.min_agreement - 1e-12
    if not agreed and explaining is not None and explaining.labelled >= rules.min_labelled:
        gain_p = accuracy_drop_p(explaining.candidate_only_right or 0, explaining.incumbent_only_right or 0)
        if gain_p is not None and gain_p < rules.accuracy_alpha:
            agreed = True
            agreement_detail += (f"; below the minimum, explained by the labels: of {explaining.labelled} texts "
                                 f"labelled with a token that no version trained on, only the candidate is right "
                                 f"on {explaining.candidate_only_right}, only the incumbent on "
                                 f"{explaining.incumbent_only_right} (one-sided p={_p(gain_p)})")
    agreement_rule = RuleResult(agreement_name, agreement, rules.min_agreement, agreed, agreement_detail)
    if comparison.labelled == 0:
        return [agreement_rule, RuleResult(accuracy_name, None, alpha, True,
                                           "no feedback on these texts", skipped=True)]
    drop = round((comparison.incumbent_accuracy or 0.0) - (comparison.candidate_accuracy or 0.0), 4)
    detail = (f"candidate {comparison.candidate_accuracy:.4f} vs incumbent {comparison.incumbent_accuracy:.4f} "
              f"on n={comparison.labelled} labelled; p={_p(comparison.accuracy_drop_p)}")
    if comparison.labelled < rules.min_labelled:
        return [agreement_rule, RuleResult(accuracy_name, drop, alpha, True,
                                           f"{detail}; under {rules.min_labelled} labelled: not tested",
                                           skipped=True)]
    p_value = comparison.accuracy_drop_p
    passed = p_value is None or p_value >= rules.accuracy_alpha
    return [agreement_rule, RuleResult(accuracy_name, drop, alpha, passed, detail)]


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
