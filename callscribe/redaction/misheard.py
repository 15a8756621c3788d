"""Digits Whisper misheard in the middle of a number read out digit by digit.

On a noisy mobile line the model writes some digits of a card number as near-words
(«восем», «адин», «нон») or as nothing a dictionary knows («ворсен», «чупи»).  Inside a
digit-by-digit reading such a word is a digit all the same: near-words count as the digit
they are one letter away from, other unknown words as an unknown digit («?»), which no
checksum passes but which counts towards the length a cue asks for («номер карты» and
sixteen digits, three of them unknown, is a card number to hide).  Outside a reading, or
for the words any sentence is made of, none of this applies.
"""

from __future__ import annotations

from callscribe.redaction.tokens import word_set

UNKNOWN = "?"
DIGIT_WORDS = {
    "ноль": "0", "нуль": "0", "один": "1", "одна": "1", "два": "2", "две": "2", "три": "3",
    "четыре": "4", "пять": "5", "шесть": "6", "семь": "7", "восемь": "8", "девять": "9",
}  # fmt: skip
# Common words that sit between numbers without being one: «с 9 до 18», «1 или 2».
_COMMON = word_set(
    "и а или но до по с со в во на над под из от к ко за у о об при про для без не ни да "
    "нет это то так вот ну же ли бы как что там тут еще уже все всё мой моя мои ваш ваша "
    "номер код карта карты карту цифра цифры раз минус плюс точка тире дефис пробел "
    "потом дальше далее затем значит сейчас секунду спасибо хорошо ладно окей ок угу ага"
)
_LONGEST = 6  # letters: longer words are words


def misheard_digit(word: str) -> str | None:
    """The digit ``word`` stands for inside a digit-by-digit reading: one letter away from
    a digit's name, else :data:`UNKNOWN` for an unknown short word, else None."""
    if word in _COMMON or not word.isalpha() or not 2 <= len(word) <= _LONGEST:
        return None
    if len(word) >= 3:
        for name, digit in DIGIT_WORDS.items():
            if _one_edit_apart(word, name):
                return digit
    return UNKNOWN


def _one_edit_apart(a: str, b: str) -> bool:
    """Levenshtein distance of at most one."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:at] + long_[at + 1 :] == short for at in range(len(long_)))
