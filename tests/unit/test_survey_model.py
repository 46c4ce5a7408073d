"""The survey's aggregation, pure: satisfaction (top boxes among answers) and response rate, per topic, per agent
and per interval; a caller who did not answer is asked, never a low score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from survey.model import Figures, SurveyResponse, answer_of, figures, percent, satisfied_from, total

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def r(
    n: int, first: int | None, *, topic: str = "complaints", agent: str | None = "a1", minutes: float = 0
) -> SurveyResponse:
    return SurveyResponse(f"17000.{n}", T0 + timedelta(minutes=minutes), topic, agent, "ar", first, None)


def test_satisfaction_is_the_share_of_4_and_5_among_answers_and_no_answer_is_not_a_low_score() -> None:
    responses = [r(1, 5), r(2, 4), r(3, 3), r(4, 1), r(5, None), r(6, None)]
    (only,) = figures(responses, 5, "topic").values()
    assert only == Figures(asked=6, answered=4, satisfied=2)
    assert only.satisfaction == 0.5 and only.response_rate == pytest.approx(4 / 6)
    # the two who hung up changed the response rate, not the satisfaction
    assert figures(responses[:4], 5, "topic")["complaints"].satisfaction == 0.5


def test_figures_per_topic_per_agent_and_per_half_hour() -> None:
    responses = [
        r(1, 5, topic="complaints", agent="a1", minutes=0),
        r(2, 2, topic="suggestions", agent="a1", minutes=29.9),
        r(3, 4, topic="complaints", agent="a2", minutes=30),
        r(4, None, topic="complaints", agent=None, minutes=61),
    ]
    assert figures(responses, 5, "topic") == {"complaints": Figures(3, 2, 2), "suggestions": Figures(1, 1, 0)}
    assert figures(responses, 5, "agent") == {"a1": Figures(2, 2, 1), "a2": Figures(1, 1, 1), "-": Figures(1, 0, 0)}
    start = int(T0.timestamp())
    by_interval = figures(responses, 5, "interval")
    assert by_interval == {start: Figures(2, 2, 1), start + 1800: Figures(1, 1, 1), start + 3600: Figures(1, 0, 0)}
    assert figures(responses, 5, "interval", interval_minutes=60)[start] == Figures(3, 3, 2)
    assert total(by_interval) == Figures(4, 3, 2)


def test_other_scales_count_their_top_boxes() -> None:
    assert [satisfied_from(m) for m in (1, 2, 3, 4, 5, 9)] == [1, 2, 3, 3, 4, 8]
    assert figures([r(1, 2), r(2, 1)], 2, "topic")["complaints"] == Figures(2, 2, 1)
    assert figures([r(1, 8), r(2, 7), r(3, 9)], 9, "agent")["a1"].satisfied == 2


def test_nothing_to_divide_gives_no_figure_not_zero() -> None:
    assert Figures().satisfaction is None and Figures().response_rate is None
    assert Figures(3, 0, 0).satisfaction is None and Figures(3, 0, 0).response_rate == 0
    assert percent(None) == "-" and percent(2 / 3) == "67%"
    assert figures([], 5, "topic") == {}


@pytest.mark.parametrize(
    ("keyed", "expected"), [("4", 4), ("1", 1), ("5", 5), ("", None), ("0", None), ("6", None), ("*", None),
                            ("#", None), ("45", None), ("٤", None)]
)  # fmt: skip
def test_what_a_caller_keys_is_an_answer_only_within_the_scale(keyed: str, expected: int | None) -> None:
    assert answer_of(keyed, 5) == expected


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="linkedid"):
        SurveyResponse("", T0)
    with pytest.raises(ValueError, match="aware"):
        SurveyResponse("1.1", datetime(2027, 3, 1))
    with pytest.raises(ValueError, match=r"first must be 1\.\.9"):
        SurveyResponse("1.1", T0, first=0)
    with pytest.raises(ValueError, match=r"second must be 1\.\.9"):
        SurveyResponse("1.1", T0, second=10)
    with pytest.raises(ValueError, match=r"1\.\.max"):
        satisfied_from(0)
    with pytest.raises(ValueError, match="interval"):
        figures([r(1, 5)], 5, "interval", interval_minutes=7)
    with pytest.raises(ValueError, match="per topic"):
        figures([r(1, 5)], 5, "shift")  # type: ignore[arg-type]
