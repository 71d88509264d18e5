"""Together (issue 15): two people linked as partners practise the same thing each day.

- links.py: invite, join, rename, unlink (the rules of making and ending a link);
- access.py: the ONE place a read crosses from one user to another (partner_view);
- calendar.py: the shared schedule (which practice a date has while linked);
- thanks.py: thank-you notes between partners;
- export.py: what a person's export holds about their link;
- names.py: how a partner is called in a sentence ("your partner" when they gave no name).

No HTTP here: blueprints/together.py turns a refusal into a 4xx page.
"""
