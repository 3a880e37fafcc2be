"""lingua's high vs low accuracy mode on short phrases (1-5 words), over the default 28 languages.

Why nlp_language_id uses high accuracy mode by default: short inputs are common in routing,
and low accuracy mode (trigrams only) gets many of them wrong.

    python plugins/himoe-nlp/benchmarks/bench_nlp_lang_id_accuracy.py
"""

from __future__ import annotations

import sys

from himoe_nlp.base_models.lingua.lingua_detector import LinguaDetector

PHRASES = {
    "en": [
        "I am tired",
        "where is the station",
        "thank you very much",
        "see you tomorrow",
        "it is raining",
        "good morning everyone",
        "what time is it",
        "I love this book",
    ],
    "fr": [
        "je suis fatigué",
        "où est la gare",
        "merci beaucoup",
        "à demain",
        "il pleut",
        "bonjour à tous",
        "quelle heure est-il",
        "j'aime ce livre",
    ],
    "de": [
        "ich bin müde",
        "wo ist der Bahnhof",
        "vielen Dank",
        "bis morgen",
        "es regnet",
        "guten Morgen zusammen",
        "wie spät ist es",
        "ich liebe dieses Buch",
    ],
    "es": [
        "estoy cansado",
        "dónde está la estación",
        "muchas gracias",
        "hasta mañana",
        "está lloviendo",
        "buenos días a todos",
        "qué hora es",
        "me encanta este libro",
    ],
    "it": [
        "sono stanco",
        "dov'è la stazione",
        "grazie mille",
        "a domani",
        "sta piovendo",
        "buongiorno a tutti",
        "che ore sono",
        "amo questo libro",
    ],
    "pt": [
        "estou cansado",
        "onde fica a estação",
        "muito obrigado",
        "até amanhã",
        "está chovendo",
        "bom dia a todos",
        "que horas são",
        "eu adoro este livro",
    ],
    "nl": [
        "ik ben moe",
        "waar is het station",
        "dank je wel",
        "tot morgen",
        "het regent",
        "goedemorgen allemaal",
        "hoe laat is het",
        "ik hou van dit boek",
    ],
    "sv": [
        "jag är trött",
        "var är stationen",
        "tack så mycket",
        "vi ses imorgon",
        "det regnar",
        "god morgon allihopa",
        "vad är klockan",
        "jag älskar den här boken",
    ],
    "pl": [
        "jestem zmęczony",
        "gdzie jest dworzec",
        "dziękuję bardzo",
        "do jutra",
        "pada deszcz",
        "dzień dobry wszystkim",
        "która jest godzina",
        "kocham tę książkę",
    ],
}


def main() -> int:
    total = sum(len(phrases) for phrases in PHRASES.values())
    for accuracy in ("high", "low"):
        detector = LinguaDetector(accuracy=accuracy)
        wrong = []
        for code, phrases in PHRASES.items():
            for phrase in phrases:
                candidates = detector.detect(phrase, top=1)
                got = candidates[0]["language"] if candidates else None
                if got != code:
                    wrong.append(f"{phrase!r}->{got}")
        print(f"{accuracy:4} accuracy: {total - len(wrong)}/{total} right; wrong: {', '.join(wrong) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
