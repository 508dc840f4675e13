"""Vocabulary for generated names and texts (Russian and English, some emoji)."""

from __future__ import annotations

import random

__all__ = ["community_name", "person_name", "sentence", "text"]

_WORDS = (
    "город",
    "новости",
    "сегодня",
    "вечером",
    "концерт",
    "парк",
    "погода",
    "мост",
    "река",
    "школа",
    "музей",
    "фестиваль",
    "футбол",
    "команда",
    "победа",
    "встреча",
    "объявление",
    "кофе",
    "книга",
    "выставка",
    "проект",
    "дорога",
    "ремонт",
    "автобус",
    "метро",
    "праздник",
    "зима",
    "лето",
    "осень",
    "весна",
    "the",
    "city",
    "news",
    "today",
    "event",
    "park",
    "weather",
    "bridge",
    "river",
    "school",
    "museum",
    "team",
    "match",
    "meeting",
    "coffee",
    "book",
    "photo",
    "project",
    "road",
    "festival",
    "summer",
    "winter",
)
_EMOJI = ("🙂", "🔥", "👍", "🎉", "😂", "❤️", "🤔")
_TOPICS = (
    "Новости",
    "Клуб",
    "Сообщество",
    "Фотографии",
    "Подслушано",
    "Афиша",
    "Спорт",
    "Музыка",
    "Kitchen",
    "Travel",
    "Tech",
    "Books",
)
_PLACES = (
    "Москвы",
    "Казани",
    "Томска",
    "Перми",
    "Самары",
    "Омска",
    "Tver",
    "Sochi",
    "Vyborg",
    "Kaluga",
)
_FIRST_F = ("Анна", "Мария", "Ольга", "Елена", "Дарья", "Ирина", "Alice", "Kate")
_FIRST_M = ("Иван", "Пётр", "Алексей", "Дмитрий", "Сергей", "Никита", "John", "Max")
_FEMININE = "\u0430"  # Cyrillic a: Иванов -> Иванова
_LAST = ("Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Соколов", "Орлов", "Волков")


def sentence(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(_WORDS) for _ in range(max(1, words))]
    line = " ".join(chosen).capitalize() + rng.choice((".", "!", "?", "..."))
    if rng.random() < 0.1:
        line += " " + rng.choice(_EMOJI)
    return line


def text(rng: random.Random, *, long: bool = False) -> str:
    """A short message, or (``long``) one of several sentences, well over 90 characters."""
    count = rng.randint(3, 6) if long else 1
    return " ".join(
        sentence(rng, rng.randint(8, 16) if long else rng.randint(2, 9)) for _ in range(count)
    )


def community_name(rng: random.Random) -> str:
    return f"{rng.choice(_TOPICS)} {rng.choice(_PLACES)}"


def person_name(rng: random.Random) -> tuple[str, str, int]:
    """``(first_name, last_name, sex)`` with VK's sex codes: 1 female, 2 male."""
    sex = rng.choice((1, 2))
    first = rng.choice(_FIRST_F if sex == 1 else _FIRST_M)
    last = rng.choice(_LAST) + (_FEMININE if sex == 1 and rng.random() < 0.8 else "")
    return first, last, sex
