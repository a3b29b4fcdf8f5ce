"""mod_forum: discussions and posts, the bulk of a course's XML.

Forums are written last and share what is left of the XML share of the size
target (``fills_xml``). Every other general forum is assessed (posts rated on a
point scale, each author's average in the forum's grade item), and with users
general forums have subscribers. Posts are rendered by a template
(:func:`render_discussion`) that gives exactly the bytes XmlWriter would give
(``tests/test_synth.py`` holds them to it), because this is the hot path.
"""

from __future__ import annotations

import math
from typing import Any

from mbx.synth.modules.base import ModuleWriter, register
from mbx.synth.plan import ROLE_TEACHER, Activity, User
from mbx.synth.text import TextPool, xml_text
from mbx.xml import XmlWriter

__all__ = ["ForumWriter", "render_discussion", "write_discussion_with_writer"]

FORUM_RATING_SCALE = 100  # a positive scale is a point scale: ratings from 0 to 100
RATED_POST_SHARE = 0.3  # posts of an assessed forum that get ratings
SUBSCRIBER_SHARE = 0.25  # students subscribed to a general forum (the teacher always is)
NEWS_SHARE = 0.2  # the announcements forum's weight; the others draw theirs
POST_COST = 900  # compressed bytes of an average post, to plan attachments
POSTS_PER_DISCUSSION = 5.5  # the opening post and its expovariate(1/5) replies, floored


def discussion_fields(d: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("name", d["name"]), ("firstpost", d["firstpost"]), ("userid", d["userid"]),
            ("groupid", -1), ("assessed", 0), ("timemodified", d["timemodified"]),
            ("usermodified", d["userid"]), ("timestart", 0), ("timeend", 0), ("pinned", 0),
            ("timelocked", 0)]


def post_fields(post: tuple, message: str) -> list[tuple[str, Any]]:
    """Leaves of a drawn post: (id, parent, userid, created, subject, message
    pieces, attachment, ratings)."""
    _, parent, userid, created, subject, _, attachment, _ = post
    return [("parent", parent), ("userid", userid), ("created", created),
            ("modified", created), ("mailed", 1), ("subject", subject),
            ("message", message), ("messageformat", 1), ("messagetrust", 0),
            ("attachment", attachment), ("totalscore", 0), ("mailnow", 0),
            ("privatereplyto", 0)]


def rating_fields(rating: tuple[int, int, int, int], scale: int) -> list[tuple[str, Any]]:
    """Leaves of a drawn rating (id, value, userid, time)."""
    _, value, userid, when = rating
    return [("component", "mod_forum"), ("ratingarea", "post"), ("scaleid", scale),
            ("value", value), ("userid", userid), ("timecreated", when),
            ("timemodified", when)]


def write_discussion_with_writer(w: XmlWriter, d: dict[str, Any], text: TextPool) -> None:
    """The reference rendering of a drawn discussion, through XmlWriter."""
    with w.element("discussion", {"id": d["id"]}):
        for leaf, value in discussion_fields(d):
            w.leaf(leaf, value)
        with w.element("posts"):
            for post in d["posts"]:
                with w.element("post", {"id": post[0]}):
                    for leaf, value in post_fields(post, text.html_text(post[5])):
                        w.leaf(leaf, value)
                    with w.element("ratings"):
                        for rating in post[7]:
                            w.record("rating", dict(rating_fields(rating, d["scale"])),
                                     attrs={"id": rating[0]})
        with w.element("discussion_subs"):
            pass


def render_discussion(d: dict[str, Any], text: TextPool) -> str:
    """A drawn discussion as XmlWriter writes it at depth 3 (inside
    ``activity/forum/discussions``)."""
    i3, i4, i5, i6, i7, i8 = ("\n" + "  " * depth for depth in range(3, 9))
    parts = [f'{i3}<discussion id="{d["id"]}">']
    for leaf, value in discussion_fields(d):
        parts.append(f"{i4}<{leaf}>{xml_text(value)}</{leaf}>")
    parts.append(f"{i4}<posts>")
    for post in d["posts"]:
        parts.append(f'{i5}<post id="{post[0]}">')
        for leaf, value in post_fields(post, text.html_escaped(post[5])):
            if leaf != "message":
                value = xml_text(value)
            parts.append(f"{i6}<{leaf}>{value}</{leaf}>")
        parts.append(f"{i6}<ratings>")
        for rating in post[7]:
            parts.append(f'{i7}<rating id="{rating[0]}">')
            for leaf, value in rating_fields(rating, d["scale"]):
                parts.append(f"{i8}<{leaf}>{value}</{leaf}>")  # numbers, fixed names
            parts.append(f"{i7}</rating>")
        parts.append(f"{i6}</ratings>{i5}</post>")
    parts.append(f"{i4}</posts>{i4}<discussion_subs>{i4}</discussion_subs>{i3}</discussion>")
    return "".join(parts)


@register
class ForumWriter(ModuleWriter):
    name = "forum"
    grading = ()
    fills_xml = True

    def fill(self, course, activities: list[Activity], budget: float,
             spare_files: int) -> None:
        """The first forum (the announcements) gets a small share of ``budget``, the
        others random shares; attachments are planned from the expected post count."""
        weights = [NEWS_SHARE] + [math.exp(course.rng.gauss(0, 0.8)) for _ in activities[1:]]
        total = sum(weights)
        for a, weight in zip(activities, weights):
            a.budget = budget * weight / total
        expected_posts = max(1.0, budget / POST_COST)
        attach_rate = min(0.5, spare_files / expected_posts)
        present = {a.cmid for a in course.activities}
        for a in activities:
            if a.cmid in present:
                with course.isolated(a):
                    self.write_forum(course, a, attach_rate)

    def write_forum(self, course, a: Activity, attach_rate: float) -> None:
        """A forum, discussions until its budget is used."""
        files: list[int] = []
        used: set[int] = set()
        is_news = a.sectionnumber == 0 and a.title == "Announcements"
        subscribers: list[User] = []
        if not is_news:  # the news forum subscribes everyone by force: no rows
            if a.instance % 2 == 0:  # every other general forum, the first one included
                a.rating_scale = FORUM_RATING_SCALE
                a.grade_item = course.ids.next("grade_item", 61)  # the ratings' average
            subscribers = [user for user in course.users
                           if user.role == ROLE_TEACHER or course.rng.random() < SUBSCRIBER_SHARE]
            used.update(user.id for user in subscribers)
        self.write_module(course, a)
        start_estimate = course.meter.estimate()
        with self.activity_xml(course, a) as w, w.element("forum", {"id": a.instance}):
            spool = course.current_stream
            for leaf, value in [
                    ("type", "news" if is_news else "general"), ("name", a.title),
                    ("intro", course.text.html(1, 2) if not is_news
                     else "General news and announcements"),
                    ("introformat", 1), ("duedate", 0), ("cutoffdate", 0),
                    ("assessed", 1 if a.rating_scale else 0), ("assesstimestart", 0),
                    ("assesstimefinish", 0), ("scale", a.rating_scale),
                    ("maxbytes", 0), ("maxattachments", 9),
                    ("forcesubscribe", 1 if is_news else 0),
                    ("trackingtype", 1), ("rsstype", 0), ("rssarticles", 0),
                    ("timemodified", course.start + a.cmid), ("warnafter", 0),
                    ("blockafter", 0), ("blockperiod", 0), ("completiondiscussions", 0),
                    ("completionreplies", 0), ("completionposts", 0), ("displaywordcount", 0),
                    ("lockdiscussionafter", 0), ("grade_forum", 0)]:
                w.leaf(leaf, value)
            with w.element("discussions"):
                if course.users:
                    authors = [course.users[0]] if is_news else course.users
                    if course.history is not None:
                        self._write_term(course, a, authors, used, files, attach_rate,
                                         w, spool, start_estimate)
                    while course.history is None and \
                            course.meter.estimate() - start_estimate < a.budget:
                        discussion = self.draw_discussion(course, a, authors, used, files,
                                                          attach_rate)
                        w.flush()  # written past the writer: see the module docstring
                        spool.write(render_discussion(discussion, course.text).encode("utf-8"))
            with w.element("subscriptions"):
                for user in subscribers:
                    w.record("subscription", {"userid": user.id},
                             attrs={"id": course.ids.next("forum_subscription", 1)})
            course.empty(w, "digests", "readposts", "trackedprefs", "poststags", "grades")
        teacher = course.teacher_id
        grades = [(author, f"{total / count:.5f}", teacher, last, last)
                  for author, (total, count, last) in sorted(a.ratings_received.items())]
        self.write_common(course, a, files=files, users=used, grades=grades)

    def _write_term(self, course, a: Activity, authors: list[User], used: set[int],
                    files: list[int], attach_rate: float, w: XmlWriter, spool,
                    start_estimate: float) -> None:
        """A history's forum: discussions one after the other over the term (from when
        the forum was added), so that a week's are the last ones and their ids the
        next ones. The last version, written first, fills the budget and tells the
        others how many discussions there are, how far apart, and how many carry
        attachments; each version writes those opened by its date."""
        history = course.history
        opens = a.appears or course.start
        if history.last:
            count = None
            gap = (course.term_end - opens) / max(1.0, a.budget / (POST_COST
                                                                  * POSTS_PER_DISCUSSION))
        else:
            count, gap, attach_rate = history.forums[a.cmid]
        number = 0
        while count is None or number < count:
            if count is None and course.meter.estimate() - start_estimate >= a.budget:
                break
            when = opens + int(gap * (number + course.rng.random()))
            if when > course.cutoff:
                break
            discussion = self.draw_discussion(course, a, authors, used, files, attach_rate,
                                              when=when)
            number += 1
            w.flush()
            spool.write(render_discussion(discussion, course.text).encode("utf-8"))
        if history.last:
            history.forums[a.cmid] = (number, gap, attach_rate)

    def draw_discussion(self, course, a: Activity, authors: list[User], used: set[int],
                        files: list[int], attach_rate: float,
                        when: int | None = None) -> dict[str, Any]:
        """Everything random about one discussion, drawn in a fixed order; in a
        history (opened at ``when``), only the posts and ratings made by the
        version's date are kept, all of them drawn."""
        rng = course.rng
        cutoff = course.cutoff
        discussion_id = course.ids.next("discussion", 1)
        first_post = course.ids.counters.get("post", course.ids.base) + 1
        replies = 0 if len(authors) == 1 else min(int(rng.expovariate(1 / 5)), 200)
        opener = rng.choice(authors)
        if when is None:
            when = course.start + rng.randint(0, 100 * 86400)
        subject = course.text.title(2, 8)
        course.stats["discussions"] += 1
        posts = []
        post_ids: list[int] = []
        for number in range(replies + 1):
            post_id = course.ids.next("post", 1)
            author = opener if number == 0 else rng.choice(authors)
            used.add(author.id)
            parent = 0 if number == 0 else rng.choice(post_ids[-4:])
            post_ids.append(post_id)
            attachment = ""
            created = when + number * 3600
            if course.include_files and rng.random() < attach_rate:
                files.extend(course.files.add_refs(
                    a.contextid, "mod_forum", "attachment", post_id, author.id,
                    appears=created if cutoff is not None else 0))
                attachment = "1"
            ratings = ()
            if a.rating_scale and rng.random() < RATED_POST_SHARE:
                ratings = self._draw_ratings(course, a, author, authors, created, used)
            message = course.text.html_pieces()
            if cutoff is not None and created > cutoff:
                continue  # drawn all the same: the next post's draws do not move
            course.stats["posts"] += 1
            posts.append((post_id, parent, author.id, created,
                          subject if number == 0 else f"Re: {subject}",
                          message, attachment, ratings))
        return {"id": discussion_id, "name": subject, "firstpost": first_post,
                "userid": opener.id, "timemodified": posts[-1][3],
                "scale": a.rating_scale, "posts": posts}

    @staticmethod
    def _draw_ratings(course, a: Activity, author: User, authors: list[User], created: int,
                      used: set[int]) -> tuple[tuple[int, int, int, int], ...]:
        """Up to three ratings of a post, (id, value, rater, time), by distinct raters
        other than its author."""
        rng = course.rng
        ratings: list[tuple[int, int, int, int]] = []
        raters = {author.id}
        for _ in range(rng.randint(1, 3)):
            rater = rng.choice(authors)
            if rater.id in raters:
                continue
            raters.add(rater.id)
            used.add(rater.id)
            value = rng.randint(a.rating_scale // 2, a.rating_scale)
            when = created + rng.randint(600, 3 * 86400)
            if course.cutoff is not None and when > course.cutoff:
                continue  # rated after the version's date
            ratings.append((course.ids.next("rating", 1), value, rater.id, when))
            received = a.ratings_received.setdefault(author.id, [0, 0, 0])
            received[0] += value
            received[1] += 1
            received[2] = max(received[2], when)
        course.stats["ratings"] += len(ratings)
        return tuple(ratings)
