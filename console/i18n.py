"""Every string of the console UI, in Arabic and English. ``t(lang, key)``; Arabic pages are right to left."""

from __future__ import annotations

from profiles.model import Profile, Shift

LANGUAGES = ("ar", "en")
DIRECTION = {"ar": "rtl", "en": "ltr"}

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "title": "Hotline supervisor console",
        "brand": "Hotline",
        "nav.wallboard": "Wallboard",
        "nav.agents": "Agents",
        "nav.queues": "Queues",
        "nav.callbacks": "Callbacks",
        "nav.reports": "Reports",
        "nav.survey": "Satisfaction",
        "nav.calendar": "Calendar",
        "nav.screening": "Blocked numbers",
        "nav.recordings": "Recordings",
        "recording.off.disk_full": "Recording is off: the disk is full. Calls go on unrecorded.",
        "recording.off.unwritable": "Recording is off: the recordings folder is not writable. Calls go on unrecorded.",
        "login.title": "Sign in",
        "login.name": "User name",
        "login.password": "Password",
        "login.submit": "Sign in",
        "login.failed": "Wrong user name or password.",
        "login.throttled": "Too many failed sign-ins. Try again in a few minutes.",
        "logout": "Sign out",
        "nav.account": "My password",
        "account.title": "Change my password",
        "account.old": "Current password",
        "account.new": "New password (10 characters or more)",
        "account.again": "New password again",
        "account.submit": "Change the password",
        "account.changed": "Your password is changed; your other sessions have ended.",
        "account.wrong_old": "The current password is wrong.",
        "account.differ": "The two new passwords differ.",
        "account.bad_new": "The new password must be 10 to 1024 characters.",
        "language.switch": "العربية",
        "role.supervisor": "supervisor",
        "role.viewer": "viewer (read only)",
        "live.connected": "live",
        "live.disconnected": "reconnecting…",
        "wb.queue": "Queue",
        "wb.waiting": "Waiting",
        "wb.longest": "Longest wait",
        "wb.sl": "Service level today",
        "wb.available": "Available",
        "wb.on_call": "On call",
        "wb.paused": "Paused",
        "wb.callbacks": "Callbacks pending",
        "wb.seats": "Seats",
        "wb.total": "All queues",
        "wb.sl_note": "Service level: calls answered within 20 s / calls answered, since midnight.",
        "agent.id": "Person",
        "agent.name": "Name",
        "agent.kind": "Kind",
        "agent.state": "State",
        "agent.queues": "Queues now",
        "agent.languages": "Languages",
        "agent.skills": "Topics / specialties",
        "agent.actions": "Actions",
        "agent.login": "Log in",
        "agent.logout": "Log out",
        "agent.pause": "Pause",
        "agent.unpause": "Unpause",
        "agent.listen": "Listen",
        "agent.whisper": "Whisper",
        "agent.barge": "Barge in",
        "agent.ear_note": "Listen, whisper (the person hears you) and barge in (both hear you) ring your own "
        "phone, the supervisor's phone your user is linked to; the caller hears nothing of a listen or a whisper.",
        "agent.edit_skills": "Save skills",
        "agent.skills_note": "Changed skills are stored and applied to routing at the person's next login.",
        "agent.override": "changed by a supervisor",
        "state.logged_out": "logged out",
        "state.available": "available",
        "state.ringing": "ringing",
        "state.on_call": "on call",
        "state.wrap_up": "wrap-up",
        "state.paused": "paused",
        "queue.name": "Queue",
        "queue.language": "Language",
        "queue.topic": "Topic",
        "queue.seats_now": "Seats now",
        "queue.seats_shift": "Seats per shift (profile)",
        "queue.current_shift": "Current shift",
        "queue.members": "Members (profile)",
        "queue.live": "Logged in",
        "queue.overflow": "Overflow",
        "queue.set_seats": "Set",
        "queue.rules": "Routing rules",
        "queue.widen_after": "Widen to second skills after (s)",
        "queue.overflow_after": "Overflow after (s)",
        "cb.id": "#",
        "cb.number": "Number",
        "cb.queue": "Queue",
        "cb.origin": "Origin",
        "cb.status": "Status",
        "cb.attempts": "Attempts",
        "cb.next": "Next attempt",
        "cb.cancel": "Cancel",
        "cb.reschedule": "Reschedule",
        "cb.call_now": "Call now",
        "cb.none": "No callback requests.",
        "cb.show_all": "Show closed requests too",
        "rep.day": "Day",
        "rep.interval": "Interval (minutes)",
        "rep.show": "Show",
        "rep.staffing": "People needed against present",
        "rep.start": "Interval",
        "rep.offered": "Offered",
        "rep.answered": "Answered",
        "rep.sl": "Service level",
        "rep.needed": "Needed",
        "rep.present": "Present",
        "rep.gap": "Gap",
        "rep.none": "No calls on that day.",
        "rep.shifts": "Seats needed per shift",
        "rep.shift": "Shift",
        "rep.peak": "Peak needed",
        "rep.seats_needed": "Seats after shrinkage",
        "wb.today": "Today's calls per half-hour",
        "wb.offered": "Offered",
        "wb.answered": "Answered",
        "wb.no_calls": "No calls yet today.",
        "wb.sl_none": "Service level: shown once calls are answered today.",
        "lang.ar": "Arabic",
        "lang.en": "English",
        "shift.morning": "Morning",
        "shift.day": "Day",
        "shift.evening": "Evening",
        "shift.night": "Night",
        "shift.afternoon": "Afternoon",
        "msg.done": "Done.",
        "msg.failed": "Refused:",
        "msg.read_only": "You can look but not change anything (viewer).",
        "msg.no_call": "This person has no live call now.",
        "msg.ringing": "Your phone is ringing: answer it to listen.",
    },
    "ar": {
        "title": "لوحة المشرف للخط الساخن",
        "brand": "الخط الساخن",
        "nav.wallboard": "اللوحة الحية",
        "nav.agents": "الموظفون",
        "nav.queues": "الطوابير",
        "nav.callbacks": "معاودة الاتصال",
        "nav.reports": "التقارير",
        "nav.survey": "رضا المتصلين",
        "nav.calendar": "التقويم",
        "nav.screening": "الأرقام المحظورة",
        "nav.recordings": "التسجيلات",
        "recording.off.disk_full": "التسجيل متوقف: القرص ممتلئ. تستمر المكالمات دون تسجيل.",
        "recording.off.unwritable": "التسجيل متوقف: لا يمكن الكتابة في مجلد التسجيلات. تستمر المكالمات دون تسجيل.",
        "login.title": "تسجيل الدخول",
        "login.name": "اسم المستخدم",
        "login.password": "كلمة المرور",
        "login.submit": "دخول",
        "login.failed": "اسم المستخدم أو كلمة المرور غير صحيحة.",
        "login.throttled": "محاولات دخول فاشلة كثيرة. حاول مرة أخرى بعد بضع دقائق.",
        "logout": "خروج",
        "nav.account": "كلمة المرور",
        "account.title": "تغيير كلمة المرور",
        "account.old": "كلمة المرور الحالية",
        "account.new": "كلمة المرور الجديدة (10 أحرف أو أكثر)",
        "account.again": "كلمة المرور الجديدة مرة أخرى",
        "account.submit": "غيّر كلمة المرور",
        "account.changed": "تم تغيير كلمة المرور، وانتهت جلساتك الأخرى.",
        "account.wrong_old": "كلمة المرور الحالية غير صحيحة.",
        "account.differ": "كلمتا المرور الجديدتان مختلفتان.",
        "account.bad_new": "يجب أن تكون كلمة المرور الجديدة من 10 إلى 1024 حرفًا.",
        "language.switch": "English",
        "role.supervisor": "مشرف",
        "role.viewer": "مشاهد (قراءة فقط)",
        "live.connected": "مباشر",
        "live.disconnected": "إعادة الاتصال…",
        "wb.queue": "الطابور",
        "wb.waiting": "في الانتظار",
        "wb.longest": "أطول انتظار",
        "wb.sl": "مستوى الخدمة اليوم",
        "wb.available": "متاحون",
        "wb.on_call": "في مكالمة",
        "wb.paused": "متوقفون مؤقتاً",
        "wb.callbacks": "معاودات معلقة",
        "wb.seats": "المقاعد",
        "wb.total": "كل الطوابير",
        "wb.sl_note": "مستوى الخدمة: المكالمات المجابة خلال 20 ثانية / المكالمات المجابة، منذ منتصف الليل.",
        "agent.id": "الشخص",
        "agent.name": "الاسم",
        "agent.kind": "النوع",
        "agent.state": "الحالة",
        "agent.queues": "الطوابير الآن",
        "agent.languages": "اللغات",
        "agent.skills": "المواضيع / التخصصات",
        "agent.actions": "إجراءات",
        "agent.login": "تسجيل دخول",
        "agent.logout": "تسجيل خروج",
        "agent.pause": "إيقاف مؤقت",
        "agent.unpause": "استئناف",
        "agent.listen": "استماع",
        "agent.whisper": "همس",
        "agent.barge": "مشاركة",
        "agent.ear_note": "الاستماع والهمس (يسمعك الموظف) والمشاركة (يسمعك الطرفان) ترن هاتفك الخاص، "
        "هاتف المشرف المرتبط بحسابك؛ لا يسمع المتصل شيئاً من الاستماع أو الهمس.",
        "agent.edit_skills": "حفظ المهارات",
        "agent.skills_note": "تُحفظ المهارات المعدلة وتُطبق على التوجيه عند تسجيل الدخول التالي للشخص.",
        "agent.override": "عدّلها مشرف",
        "state.logged_out": "غير مسجل",
        "state.available": "متاح",
        "state.ringing": "يرن",
        "state.on_call": "في مكالمة",
        "state.wrap_up": "إنهاء المكالمة",
        "state.paused": "متوقف مؤقتاً",
        "queue.name": "الطابور",
        "queue.language": "اللغة",
        "queue.topic": "الموضوع",
        "queue.seats_now": "المقاعد الآن",
        "queue.seats_shift": "المقاعد لكل وردية (الملف)",
        "queue.current_shift": "الوردية الحالية",
        "queue.members": "الأعضاء (الملف)",
        "queue.live": "المسجلون",
        "queue.overflow": "الفائض إلى",
        "queue.set_seats": "تعيين",
        "queue.rules": "قواعد التوجيه",
        "queue.widen_after": "توسيع إلى المهارات الثانوية بعد (ث)",
        "queue.overflow_after": "التحويل إلى طابور الفائض بعد (ث)",
        "cb.id": "#",
        "cb.number": "الرقم",
        "cb.queue": "الطابور",
        "cb.origin": "المصدر",
        "cb.status": "الحالة",
        "cb.attempts": "المحاولات",
        "cb.next": "المحاولة التالية",
        "cb.cancel": "إلغاء",
        "cb.reschedule": "إعادة جدولة",
        "cb.call_now": "اتصل الآن",
        "cb.none": "لا توجد طلبات معاودة اتصال.",
        "cb.show_all": "عرض الطلبات المغلقة أيضاً",
        "rep.day": "اليوم",
        "rep.interval": "الفترة (دقائق)",
        "rep.show": "عرض",
        "rep.staffing": "العدد المطلوب مقابل الحاضرين",
        "rep.start": "الفترة",
        "rep.offered": "المعروضة",
        "rep.answered": "المجابة",
        "rep.sl": "مستوى الخدمة",
        "rep.needed": "المطلوب",
        "rep.present": "الحاضرون",
        "rep.gap": "الفرق",
        "rep.none": "لا مكالمات في ذلك اليوم.",
        "rep.shifts": "المقاعد المطلوبة لكل وردية",
        "rep.shift": "الوردية",
        "rep.peak": "ذروة المطلوب",
        "rep.seats_needed": "المقاعد بعد نسبة الغياب",
        "wb.today": "مكالمات اليوم لكل نصف ساعة",
        "wb.offered": "الواردة",
        "wb.answered": "المجابة",
        "wb.no_calls": "لا مكالمات بعد اليوم.",
        "wb.sl_none": "مستوى الخدمة: يظهر عند الرد على مكالمات اليوم.",
        "lang.ar": "العربية",
        "lang.en": "الإنجليزية",
        "shift.morning": "الصباحية",
        "shift.day": "النهارية",
        "shift.evening": "المسائية",
        "shift.night": "الليلية",
        "shift.afternoon": "الظهيرة",
        "msg.done": "تم.",
        "msg.failed": "مرفوض:",
        "msg.read_only": "يمكنك المشاهدة فقط دون أي تغيير (مشاهد).",
        "msg.no_call": "لا توجد مكالمة جارية لهذا الشخص الآن.",
        "msg.ringing": "هاتفك يرن: أجب للاستماع.",
    },
}


def t(language: str, key: str) -> str:
    table = CATALOGUE.get(language) or CATALOGUE["en"]
    return table.get(key) or CATALOGUE["en"].get(key) or key


def pick_language(accept: str | None) -> str:
    """The login page's language before a user is known: Arabic if the browser prefers it."""
    first = (accept or "").split(",")[0].strip().lower()
    return "ar" if first.startswith("ar") else "en"


# -- the profile's names in the reader's language -----------------------------------------------------------
# A supervisor reads topics, specialties, queues and shifts by the profile's labels, not by their ids. The
# profile's labels are what the menu reads out ("للشكاوى" for complaints: "for complaints"), so the Arabic
# "for the" (لل) becomes "the" (ال) on a page. A name the profile does not know is shown as it is.


def _plain(label: str, language: str) -> str:
    if language == "ar" and label.startswith("لل") and len(label) > 2:
        return "ال" + label[2:]
    return label


def topic_label(profile: Profile, topic_id: str, language: str) -> str:
    for topic in profile.topics:
        if topic.id == topic_id:
            return _plain(topic.label.get(language) or topic.label.get(profile.default_language) or topic_id, language)
    return topic_id


def specialty_label(profile: Profile, specialty_id: str, language: str) -> str:
    for topic in profile.topics:
        for specialty in topic.specialties:
            if specialty.id == specialty_id:
                label = specialty.label.get(language) or specialty.label.get(profile.default_language)
                return _plain(label or specialty_id, language)
    return specialty_id


def language_name(code: str, language: str) -> str:
    name = t(language, f"lang.{code}")
    return code if name == f"lang.{code}" else name


def queue_labels(profile: Profile, language: str) -> dict[str, str]:
    """Every queue of the profile (language-topic[-specialty]) by its label: "English · complaints", and for a
    specialty's queue "English · paediatrics"."""
    out: dict[str, str] = {}
    for code in profile.language_codes:
        lang = language_name(code, language)
        for topic in profile.topics:
            name = topic_label(profile, topic.id, language)
            out[f"{code}-{topic.id}"] = f"{lang} · {name}"
            for specialty in topic.specialties:
                out[f"{code}-{topic.id}-{specialty.id}"] = (
                    f"{lang} · {specialty_label(profile, specialty.id, language)}"
                )
    return out


def queue_label(profile: Profile, queue: str, language: str) -> str:
    return queue_labels(profile, language).get(queue, queue)


def shift_label(profile: Profile, shift_id: str | None, language: str) -> str:
    """A shift by a name for its id when the console knows one (morning, evening, ...), with its hours."""
    if not shift_id:
        return "–"
    shift: Shift | None = next((s for s in profile.shifts if s.id == shift_id), None)
    if shift is not None and shift.label and language in shift.label:
        name = shift.label[language]
    else:
        name = t(language, f"shift.{shift_id}")
        if name == f"shift.{shift_id}":
            name = shift_id
    if shift is None:
        return name
    return f"{name} ({shift.start:%H:%M}–{shift.end:%H:%M})"


class Labels:
    """The profile's names in one language, for the pages: ``labels.queue("ar-complaints")``."""

    def __init__(self, profile: Profile, language: str) -> None:
        self.profile = profile
        self.language = language
        self.queues = queue_labels(profile, language)

    def queue(self, queue: str) -> str:
        return self.queues.get(queue, queue)

    def topic(self, topic_id: str) -> str:
        return topic_label(self.profile, topic_id, self.language)

    def specialty(self, specialty_id: str) -> str:
        return specialty_label(self.profile, specialty_id, self.language)

    def shift(self, shift_id: str | None) -> str:
        return shift_label(self.profile, shift_id, self.language)
