"""A session of courses for tests and demos: a category tree under a session
root, plain courses and the tricky ones (slashes, HTML, accents, quotes,
long and colliding shortnames, an empty course)."""

import random
import re


FACULTIES = {
    "Sciences": ["Maths", "Physique", "Chimie", "SVT", "Informatique"],
    "Lettres": ["Français", "Philosophie", "Histoire-Géographie"],
    "Langues": ["Anglais", "Espagnol", "Allemand"],
    "Arts": ["Musique", "Arts plastiques"],
    "Économie & Gestion": ["Économie", "Gestion"],
    "Sport": [],
}


def generate_session(site, session_name="2025-2026", n_categories=12, n_courses=20, file_sizes=(100, 50000),
                     shared_files=True, tricky=True, seed=0, files_per_course=(0, 3)):
    """Build a category tree under a session root category and fill it with courses.

    Returns a dict: session_category (id), categories {"2025-2026/Sciences/Maths": id}, courses [{id,
    shortname, fullname, category, category_path, estimate, files, tags}], tricky {tag: id or [ids]},
    empty_course (id), shared_contents (number of shared content specs used).
    """
    rnd = random.Random(seed)
    cats = {}
    root = site.add_category(session_name, 0, idnumber=session_name)
    cats[session_name] = root
    order = [(fac, None) for fac in FACULTIES]
    for k in range(max(len(v) for v in FACULTIES.values())):
        for fac, subs in FACULTIES.items():
            if k < len(subs):
                order.append((subs[k], fac))
    made = 0
    for name, parent in order:
        if made >= n_categories:
            break
        if parent is None:
            cats["%s/%s" % (session_name, name)] = site.add_category(name, root)
        elif "%s/%s" % (session_name, parent) in cats:
            cats["%s/%s/%s" % (session_name, parent, name)] = site.add_category(
                name, cats["%s/%s" % (session_name, parent)])
        else:
            continue
        made += 1
    paths = list(cats)
    leafs = [p for p in paths if not any(q.startswith(p + "/") for q in paths)] or paths
    shared = [dict(size=rnd.randint(*file_sizes), kind=rnd.choice(["random", "text"]),
                   seed=("shared", seed, session_name, i)) for i in range(3)] if shared_files else []
    courses = []
    tags = {}

    def mk(shortname, fullname, catpath, files, tag=None, activities=()):
        cid = site.add_course(cats[catpath], shortname, fullname, files=files, activities=activities)
        info = {"id": cid, "shortname": shortname, "fullname": fullname, "category": cats[catpath],
                "category_path": catpath, "files": [f[0] for f in files], "estimate": site.course_estimate(cid),
                "tags": [tag] if tag else []}
        courses.append(info)
        if tag:
            if tag in tags:
                tags[tag] = tags[tag] if isinstance(tags[tag], list) else [tags[tag]]
                tags[tag].append(cid)
            else:
                tags[tag] = cid
        return cid

    year = session_name.split("-")[-1]
    n_tricky = 9 if tricky else 0
    for i in range(max(0, n_courses - n_tricky)):
        catpath = leafs[i % len(leafs)]
        subj = catpath.split("/")[-1]
        short = "%s-%03d-%s" % (re.sub(r"[^A-Z]", "", subj.upper())[:4] or "CRS", i + 1, year)
        nfiles = rnd.randint(*files_per_course)
        files = []
        for j in range(nfiles):
            if shared and rnd.random() < 0.3:
                files.append(("partage-%d.dat" % shared.index(rnd.choice(shared)), rnd.choice(shared)))
            else:
                files.append(("doc-%d-%d.%s" % (i + 1, j + 1, rnd.choice(["txt", "bin", "pdf"])),
                              dict(size=rnd.randint(*file_sizes), kind=rnd.choice(["random", "text"]),
                                   seed=("f", seed, session_name, i, j))))
        # de-duplicate names inside one course
        seen = set()
        files = [f for f in files if not (f[0] in seen or seen.add(f[0]))]
        mk(short, "%s %d (%s)" % (subj, i + 1, session_name), catpath, files,
           activities=rnd.sample(["page", "forum", "label", "assign", "url"], rnd.randint(0, 2)))
    if tricky:
        sci = "%s/Sciences" % session_name if "%s/Sciences" % session_name in cats else session_name
        let = "%s/Lettres" % session_name if "%s/Lettres" % session_name in cats else session_name
        sz = lambda k: dict(size=rnd.randint(*file_sizes), kind="text", seed=("t", seed, session_name, k))
        same = dict(size=max(file_sizes[0], 1000), kind="text", seed=("same", seed, session_name))
        mk("PHY/CHIM-%s" % year, "Physique/Chimie %s" % year, sci,
           [("poly-été.txt", sz(1)), ("annexes/données.bin", dict(size=rnd.randint(*file_sizes), seed=("t2", seed))),
            ("copie1.txt", same, "Dossier ressources"), ("copie2.txt", same, "Dossier ressources")], "slash")
        mk('HIST "Moderne" & Géo %s' % year, 'Histoire "moderne" & Géographie <b>', let,
           [], "html", activities=[{"mod": "label", "name": 'Étiquette "citation" & co'}])
        mk("Éco-Gestion été %s" % year, "Économie et gestion — été %s" % year, session_name,
           [("résumé.txt", sz(3))], "accent")
        mk("L'anglais d'aujourd'hui %s" % year, "L'anglais d'aujourd'hui", session_name,
           [("vocab.txt", sz(4))], "quote")
        long_short = ("LONG-%s-" % year + "x" * 250)[:250]
        mk(long_short, "Cours au nom court très long", session_name, [("long.txt", sz(5))], "long")
        mk(".cache-%s" % year, "Cours qui commence par un point", session_name, [("point.txt", sz(6))], "dot")
        mk("A/B-%s" % year, "Cours A/B", session_name, [("ab1.txt", sz(7))], "collide")
        mk("AB-%s" % year, "Cours AB", session_name, [("ab2.txt", sz(8))], "collide")
        mk("VIDE-%s" % year, "Cours vide %s" % year, session_name, [], "empty")
    return {"session": session_name, "session_category": root, "categories": cats, "courses": courses,
            "tricky": tags, "empty_course": tags.get("empty"), "shared_contents": len(shared)}
