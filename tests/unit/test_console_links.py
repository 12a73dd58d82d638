"""``promotion.console``: the one place that decides where an execution's console page is."""

from __future__ import annotations

from urllib.parse import unquote

from promotion.console import execution_console_url

ARN = (
    "arn:aws:states:eu-west-1:123456789012:execution:release-promotion-promotion:"
    "sentiment-service-0123456789ab-a1"
)


def test_on_aws_an_execution_links_to_the_step_functions_console_of_its_region() -> None:
    assert execution_console_url(ARN) == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/" + ARN
    )


def test_other_partitions_link_to_their_own_console() -> None:
    gov = ARN.replace("arn:aws:", "arn:aws-us-gov:").replace("eu-west-1", "us-gov-west-1")
    china = ARN.replace("arn:aws:", "arn:aws-cn:").replace("eu-west-1", "cn-north-1")
    assert str(execution_console_url(gov)).startswith(
        "https://us-gov-west-1.console.amazonaws-us-gov.com/states/home?region=us-gov-west-1#"
    )
    assert str(execution_console_url(china)).startswith("https://cn-north-1.console.amazonaws.cn/states/")


def test_a_control_plane_with_its_own_console_links_there_with_the_arn_encoded_in_one_segment() -> None:
    url = execution_console_url(ARN, "http://127.0.0.1:8123/_local/console/")
    assert url is not None
    base, _, segment = url.rpartition("/")
    assert base == "http://127.0.0.1:8123/_local/console/executions"
    assert ":" not in segment
    assert unquote(segment) == ARN


def test_an_empty_console_base_means_the_aws_console() -> None:
    assert execution_console_url(ARN, "") == execution_console_url(ARN)


def test_what_is_not_an_execution_arn_gets_no_link() -> None:
    state_machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:release-promotion-promotion"
    for wrong in ("not-an-arn", "", state_machine, "arn:aws:lambda:eu-west-1:123456789012:function:f:x:y"):
        assert execution_console_url(wrong) is None
        assert execution_console_url(wrong, "http://127.0.0.1:1/_local/console") is None


def test_a_partition_without_a_known_console_gets_no_aws_link() -> None:
    assert execution_console_url(ARN.replace("arn:aws:", "arn:aws-mars:")) is None
