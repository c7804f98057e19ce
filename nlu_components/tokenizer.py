"""JiebaTokenizer for chat text that mixes Chinese and ASCII.

Rasa's JiebaTokenizer passes jieba's tokens through unchanged. In DingTalk messages that
leaves three things that break entity spans:
- whitespace runs become tokens of their own (RasaHQ/rasa#7910: train/featurise mismatch);
- jieba glues ASCII to Chinese in some contexts (``dev环境``, ``45号``), so an entity cannot
  start or end between them;
- ``#45`` is one token, so a task id can never be just the digits.
And one thing that breaks names: jieba cuts ``ledger-core`` into ``ledger / - / core``, so the
model learns to tag pieces and, on a name it never saw, tags only some of them.
This subclass keeps jieba's segmentation (and the catalog-generated user dictionary), splits
tokens at those boundaries and joins hyphenated and slashed ASCII names (``feature/sso``) back
into one token.
"""

from __future__ import annotations

import re
from typing import List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

# ASCII word-ish runs (names like order-service, versions like 2.3), a lone '#', or anything
# else that is not whitespace (Chinese text, punctuation).
_PIECES = re.compile(r"[A-Za-z0-9_.\-+&%]+|#|[^\sA-Za-z0-9_.\-+&%#]+")


_ASCII_WORD = re.compile(r"^[A-Za-z0-9_.\-+&%]+$")


def split_token(text: str, start: int) -> List[Token]:
    return [Token(m.group(), start + m.start()) for m in _PIECES.finditer(text)]


_GLUE = ("-", "_", "/")


def _joins(left: Token, right: Token) -> bool:
    """``ledger`` + ``-`` + ``core`` (or ``feature`` + ``/`` + ``sso``) touching form one name."""
    if left.end != right.start:
        return False
    if right.text == "/":
        return bool(_ASCII_WORD.match(left.text))
    if left.text.endswith("/"):
        return bool(_ASCII_WORD.match(right.text))
    return (
        bool(_ASCII_WORD.match(left.text))
        and bool(_ASCII_WORD.match(right.text))
        and (left.text.endswith(_GLUE) or right.text.startswith(_GLUE))
    )


def join_names(tokens: List[Token]) -> List[Token]:
    out: List[Token] = []
    for token in tokens:
        if out and _joins(out[-1], token):
            out[-1] = Token(out[-1].text + token.text, out[-1].start)
        else:
            out.append(token)
    return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class ChatOpsJiebaTokenizer(JiebaTokenizer):
    """Jieba segmentation, then split at Chinese/ASCII and '#' boundaries; no space tokens."""

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        import jieba

        text = message.get(attribute)
        tokens: List[Token] = []
        for word, start, _end in jieba.tokenize(text):
            tokens.extend(split_token(word, start))
        return self._apply_token_pattern(join_names(tokens))
