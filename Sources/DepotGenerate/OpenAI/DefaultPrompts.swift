/// The prompt templates as shipped in config/prompts/, used when the configured folder lacks
/// one. Generated from those files; a test checks that the two agree.
enum DefaultPrompts {
    static let text: [String: String] = [
        "summary": #"""
You summarise documents for students. Answer with one JSON object and nothing else.
Write in {{language}}. Use only what the text says.
----
{{part}}
Summarise the text below.
- "short": about {{summary_words}} words, the main point first.
- "long": about {{long_words}} words, covering each main part in order.

Text:
"""
{{text}}
"""
"""#,
        "chapters": #"""
You divide documents into chapters for students. Answer with one JSON object and nothing else.
Write in {{language}}.
----
{{part}}
Divide the text below into its main chapters, in order. For each give:
- "title": a short title;
- "first_words": the first five to ten words of the chapter, copied exactly from the text;
- "summary": one or two sentences;
- "keywords": up to five key terms of the chapter.

Text:
"""
{{text}}
"""
"""#,
        "quiz": #"""
You write quiz questions that test understanding of a document. Answer with one JSON object and nothing else.
Write in {{language}}. Every answer must be provable from the text.
----
{{part}}
Write {{questions}} {{difficulty}} questions about the text below, no two alike. For each give:
- "type": "multiple_choice" or "cloze" (a sentence with a blank "_____");
- "question";
- "choices": four choices for multiple_choice, exactly one of them the answer; an empty list for cloze;
- "answer";
- "explanation": why it is the answer;
- "quote": the sentence of the text that proves the answer, copied exactly; it must contain the answer.

Text:
"""
{{text}}
"""
"""#,
        "keywords": #"""
You pick the key terms of documents. Answer with one JSON object and nothing else.
----
{{part}}
List the {{keywords}} most important terms of the text below, most important first, each written exactly as the text writes it, in "keywords".

Text:
"""
{{text}}
"""
"""#,
        "reduce": #"""
You summarise documents for students. Answer with one JSON object and nothing else.
Write in {{language}}. Use only what the summaries say.
----
Below are summaries of the consecutive parts of one document. Summarise the whole document.
- "short": about {{summary_words}} words, the main point first.
- "long": about {{long_words}} words, covering each part in order.

Summaries:
"""
{{text}}
"""
"""#,
    ]
}
