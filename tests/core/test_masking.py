from core.masking import mask_id_number, mask_phone, mask_text


def test_phone_numbers_keep_prefix_and_last_four() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("") == ""
    assert mask_phone("12345") == "*****"


def test_id_numbers_keep_region_and_last_four() -> None:
    assert mask_id_number("320102199001011234") == "3201**********1234"
    assert mask_id_number("32010219900101123X") == "3201**********123X"


def test_free_text_is_masked_for_logs() -> None:
    text = "来电 13812345678，身份证 320102199001011234，工单 2026112700001"
    masked = mask_text(text)
    assert "13812345678" not in masked and "138****5678" in masked
    assert "320102199001011234" not in masked and "3201**********1234" in masked
    assert "2026112700001" in masked  # a 13-digit work-order number is not a phone number
