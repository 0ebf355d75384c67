"""HTML of the per-utterance view (report.utterances): one sortable, filterable table, the rows
where the recommended configuration and the runner-up differ first, a checkbox to show only
those; ASR hypotheses with their word alignment to the reference marked (substitution,
deletion, insertion). Every stored string is escaped."""
from __future__ import annotations

from html import escape

from speechbudget.report.utterances import Side, UtteranceRow, UtteranceView

CSS = """
table.utt td{vertical-align:top} table.utt td.txt{text-align:left;max-width:360px}
table.utt details summary{font-size:11px}
table.utt tr.differ td{background:#fffbe6}
.diff{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;color:#333;margin-top:3px}
.diff .sub{background:#fde2c8;border-bottom:2px solid #e08a1e}
.diff del{background:#f8d0d0;color:#a11}
.diff ins{background:#d3f0d3;color:#161;text-decoration:none;border-bottom:2px solid #3a3}
.failed{color:#a11;font-style:italic}
"""


def word_diff(side: Side) -> str:
    """The hypothesis words aligned to the reference: substitutions (hover: the reference
    word), deletions struck through, insertions underlined."""
    out = []
    for o in side.diff:
        if o.op == "equal":
            out.append(escape(o.hyp or ""))
        elif o.op == "substitute":
            out.append(f'<span class="sub" title="{escape("reference: " + (o.ref or ""))}">'
                       f"{escape(o.hyp or '')}</span>")
        elif o.op == "delete":
            out.append(f'<del title="deleted">{escape(o.ref or "")}</del>')
        else:
            out.append(f'<ins title="inserted">{escape(o.hyp or "")}</ins>')
    return " ".join(out)


def _n(v: int | None) -> str:
    return "–" if v is None else str(v)


def _hyp_cell(side: Side, asr: bool) -> str:
    if side.failed is not None:
        return f'<td class="txt"><span class="failed">{escape(side.failed)}</span></td>'
    text = escape(side.text or "")
    if asr and side.diff:
        return (f'<td class="txt"><div class="diff">{word_diff(side)}</div><details>'
                f"<summary>as transcribed</summary>{text}</details></td>")
    return f'<td class="txt">{text}</td>'


def _row(r: UtteranceRow, asr: bool) -> str:
    d = "1" if r.differ else "0"
    cls = ' class="differ"' if r.differ else ""
    cells = [f'<td class="l">{escape(r.item_id)}</td>']
    if asr:
        gap = ("–" if r.a.errors is None or r.b.errors is None
               else f"{r.b.errors - r.a.errors:+d}")
        cells += [f"<td>{_n(r.n_ref)}</td>", f"<td>{_n(r.a.errors)}</td>",
                  f"<td>{_n(r.b.errors)}</td>", f"<td>{gap}</td>",
                  f'<td class="txt">{escape(r.reference or "")}</td>',
                  _hyp_cell(r.a, asr), _hyp_cell(r.b, asr)]
    else:
        def right(s: Side) -> str:
            return "–" if not s.scored else ("yes" if s.errors == 0 else "no")
        cells += [f'<td class="txt">{escape(r.reference or "")}</td>', _hyp_cell(r.a, asr),
                  _hyp_cell(r.b, asr), f"<td>{right(r.a)}</td>", f"<td>{right(r.b)}</td>"]
    return f'<tr data-differ="{d}"{cls}>' + "".join(cells) + "</tr>"


def utterance_section(view: UtteranceView) -> str:
    asr = view.task == "asr"
    tid = f"utterances-{escape(view.task)}"
    a, b = escape(view.a.label), escape(view.b.label)
    what = "utterances" if asr else "clips"
    head = (["item", "reference words", f"errors: {view.a.label}", f"errors: {view.b.label}",
             "Δ errors (runner-up − recommended)", "reference",
             f"hypothesis: {view.a.label} (recommended)", f"hypothesis: {view.b.label} (runner-up)"]
            if asr else
            ["clip", "label", f"predicted: {view.a.label} (recommended)",
             f"predicted: {view.b.label} (runner-up)", f"correct: {view.a.label}",
             f"correct: {view.b.label}"])
    out = [f'<section class="utterances" id="{tid}-section">',
           f"<h3>Per {what[:-1]}: {a} (recommended) against {b} (runner-up)</h3>",
           f'<p class="note">{view.n_items} {what}; the {view.n_differ} where the two differ come '
           "first (highlighted)"
           + ("; word errors as scored (Whisper normaliser); each hypothesis is shown "
              "normalised and aligned to the reference, with "
              '<span class="diff"><span class="sub">substitutions</span> (hover: the reference '
              "word) <del>deletions</del> <ins>insertions</ins></span> marked, the text as "
              "transcribed below it" if asr else "")
           + ". Click a header to sort.</p>",
           f'<p><label class="note"><input type="checkbox" class="only-differ" '
           f'data-table="{tid}"> only the {view.n_differ} {what} where the two differ</label></p>']
    for n in view.notes:
        out.append(f'<p class="note">{escape(n)}</p>')
    out.append(f'<table class="sortable utt" id="{tid}"><thead><tr>'
               + "".join(f'<th class="{"l" if i == 0 else ""}">{escape(h)}</th>'
                         for i, h in enumerate(head))
               + "</tr></thead><tbody>")
    out += [_row(r, asr) for r in view.rows]
    out.append("</tbody></table></section>")
    return "".join(out)
