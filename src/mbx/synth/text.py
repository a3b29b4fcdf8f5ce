"""Invented text for synthetic courses: words, names, HTML, in several scripts.

Everything comes from a :class:`random.Random` seeded by the caller, so a seed
always gives the same text. Paragraphs are drawn from a pool made once per
course (thousands of distinct paragraphs, more than a deflate window apart),
which keeps generation fast without making the XML unrealistically compressible.
"""

from __future__ import annotations

import random
from html import escape
from typing import Any

__all__ = ["TextPool", "FIRST_NAMES", "LAST_NAMES", "xml_text"]

_WORDS = {
    "en": ("learning course module student teacher week reading assignment discussion "
           "question answer chapter example exercise review project group feedback deadline "
           "practice theory method result analysis evidence source draft essay lecture video "
           "notes quiz grade topic summary research data model system process design skill "
           "problem solution idea argument context history science language culture").split(),
    "de": ("Übung Prüfung Lösung Aufgabe Vorlesung Gruppe Frage Antwort Beispiel Kapitel "
           "Grundlagen Ergebnis Zusammenfassung Größe schließen Straße können müssen").split(),
    "fr": ("élève cours leçon réponse question exemple résumé problème méthode théorie "
           "déjà très être à côté ça français étudiant semaine").split(),
    "es": ("año niño señal lección pregunta respuesta ejercicio opinión información "
           "además también más cómo está").split(),
    "el": "μάθημα εργασία ερώτηση απάντηση παράδειγμα κεφάλαιο φοιτητής άσκηση".split(),
    "ru": ("курс задание вопрос ответ пример глава студент лекция неделя группа "
           "обсуждение решение").split(),
    "zh": "课程 作业 问题 答案 例子 章节 学生 老师 讨论 复习 项目 反馈".split(),
    "ja": "授業 課題 質問 回答 例題 第一章 学生 先生 議論 復習 東京 日本語".split(),
    "ar": "درس واجب سؤال جواب مثال فصل طالب معلم نقاش مراجعة".split(),
    "hi": "पाठ्यक्रम प्रश्न उत्तर उदाहरण अध्याय छात्र शिक्षक चर्चा".split(),
}
_LANG_WEIGHTS = [("en", 70), ("de", 6), ("fr", 6), ("es", 4), ("el", 3), ("ru", 3), ("zh", 3),
                 ("ja", 2), ("ar", 2), ("hi", 1)]
FIRST_NAMES = ("Anna Bruno Chen Dmitri Élodie Fatima Giorgos Hana Ivan Jürgen Kofi Lucía "
               "Mei Nikolai Olga Pedro Qin Rania Søren Tomás Uma Vera Wei Ximena Yusuf Zoë "
               "Amélie Björn Ayşe Ngozi Priya Kenji Sakura Ольга Алексей Μαρία 李娜 王伟 "
               "佐藤 محمد").split()
LAST_NAMES = ("Kowalska Müller Wei Ivanov Dubois Haddad Papadopoulos Novak García Schröder "
              "Mensah López Zhang Petrov Sørensen Tanaka Öztürk Okafor Sharma Yamamoto Silva "
              "Nguyen O'Brien Fernández Lindqvist Иванова Παπαδάκης 张 田中 Ньютон").split()
_TAGS = ("p", "p", "p", "ul", "blockquote", "h3")
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_DOMAINS = ("example.org", "example.com", "example.net", "school.example", "uni.example")


class TextPool:
    """Seeded text: sentences, paragraphs, HTML bodies, names, URLs."""

    def __init__(self, rng: random.Random, paragraphs: int = 3000) -> None:
        self.rng = rng
        languages = [name for name, weight in _LANG_WEIGHTS for _ in range(weight)]
        self._languages = languages
        self._paragraphs = [self._make_paragraph(rng.choice(languages))
                            for _ in range(paragraphs)]
        #: HTML blocks (one element each) that messages are made of, raw and escaped
        self._blocks = [self.html(1, 1) for _ in range(paragraphs)]
        self._blocks_escaped = [block.replace("&", "&amp;").replace("<", "&lt;")
                                .replace(">", "&gt;") for block in self._blocks]

    def words(self, count: int, language: str | None = None) -> str:
        rng = self.rng
        vocabulary = _WORDS[language or rng.choice(self._languages)]
        separator = "" if language in ("zh", "ja") else " "
        return separator.join(rng.choice(vocabulary) for _ in range(count))

    def title(self, low: int = 2, high: int = 6) -> str:
        text = self.words(self.rng.randint(low, high))
        return text[:1].upper() + text[1:]

    def _make_paragraph(self, language: str) -> str:
        rng = self.rng
        vocabulary = _WORDS[language]
        separator = "" if language in ("zh", "ja") else " "
        stop = "。" if language in ("zh", "ja") else "."
        sentences = []
        for _ in range(rng.randint(1, 5)):
            words = [rng.choice(vocabulary) for _ in range(rng.randint(4, 16))]
            if rng.random() < 0.15:
                words[rng.randrange(len(words))] = str(rng.randint(1, 2030))
            sentence = separator.join(words)
            sentences.append(sentence[:1].upper() + sentence[1:] + stop)
        return (" " if separator else "").join(sentences)

    def paragraph(self) -> str:
        return self.rng.choice(self._paragraphs)

    def html(self, low: int = 1, high: int = 4) -> str:
        """An HTML fragment as an editor (Atto/TinyMCE) saves it."""
        rng = self.rng
        parts = []
        for _ in range(rng.randint(low, high)):
            tag = rng.choice(_TAGS)
            text = escape(self.paragraph(), quote=False)
            if tag == "ul":
                items = "".join(f"<li>{escape(self.words(rng.randint(2, 6)), quote=False)}</li>"
                                for _ in range(rng.randint(2, 4)))
                parts.append(f"<ul>{items}</ul>")
            elif tag == "h3":
                parts.append(f"<h3>{escape(self.title(), quote=False)}</h3>")
            elif rng.random() < 0.2:
                cut = len(text) // 2
                parts.append(f'<p dir="ltr" style="text-align: left;">{text[:cut]}'
                             f"<strong>{text[cut:]}</strong></p>")
            else:
                parts.append(f"<{tag}>{text}</{tag}>")
        if rng.random() < 0.1:
            parts.append(f'<p><a href="{self.url()}">{escape(self.words(3), quote=False)}</a></p>')
        return "".join(parts)

    def html_pieces(self, low: int = 1, high: int = 5) -> tuple[int, ...]:
        """A message as indexes of HTML blocks: cheap to draw, rendered by
        :meth:`html_text` (raw) or :meth:`html_escaped` (for XML)."""
        rng = self.rng
        count = len(self._blocks)
        return tuple(rng.randrange(count) for _ in range(rng.randint(low, high)))

    def html_text(self, pieces: tuple[int, ...]) -> str:
        return "".join(self._blocks[index] for index in pieces)

    def html_escaped(self, pieces: tuple[int, ...]) -> str:
        return "".join(self._blocks_escaped[index] for index in pieces)

    def url(self) -> str:
        rng = self.rng
        path = "/".join(rng.choice(_WORDS["en"]) for _ in range(rng.randint(1, 3)))
        return f"https://www.{rng.choice(_DOMAINS)}/{path}"

    def name(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)


def xml_text(value: Any) -> str:
    """A leaf's value as XmlWriter writes it, for the values synth makes (no control
    characters, no CR: nothing else for the writer to change); None is ``$@NULL@$``."""
    if isinstance(value, str):
        # most values need no escaping, and three scans cost far less than translate
        if "&" in value or "<" in value or ">" in value:
            return value.translate(_XML_ESCAPES)
        return value
    return "$@NULL@$" if value is None else str(value)
