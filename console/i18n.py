"""Every string of the console UI, in Arabic, English and Hindi. ``t(lang, key)``; Arabic pages are right to left,
Hindi (Devanagari) and English left to right.

The console speaks the profile's languages that it has strings for, and English (:func:`console_languages`): a
hotline in Arabic and English switches between those two, one in Hindi and English between those
(:func:`next_language`). A page of a language the console has no strings for falls back to English."""

from __future__ import annotations

from profiles.model import Profile, Shift

LANGUAGES = ("ar", "en", "hi")
DIRECTION = {"ar": "rtl", "en": "ltr", "hi": "ltr"}
#: Each language by its own name: the language switch names the language it switches to.
NATIVE = {"ar": "العربية", "en": "English", "hi": "हिन्दी"}

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
        "nav.campaigns": "Campaigns",
        "lang.hi": "Hindi",
        "camp.title": "Follow-up campaigns",
        "camp.day": "Day",
        "camp.campaign": "Campaign",
        "camp.list": "List",
        "camp.reached": "Reached",
        "camp.not_reached": "Not reached after all attempts",
        "camp.pending": "Pending",
        "camp.in_flight": "Calling now",
        "camp.unknown": "Unknown (restart)",
        "camp.refused": "Not dialled",
        "camp.well": "1 · well",
        "camp.doctor": "2 · doctor",
        "camp.emergency": "9 · emergency",
        "camp.no_key": "No key",
        "camp.attempts": "Attempts",
        "camp.off": "off",
        "camp.people": "People not yet reached",
        "camp.export": "Export as CSV",
        "camp.everyone": "Everyone is reached.",
        "camp.name": "Name",
        "camp.number": "Number",
        "camp.language": "Language",
        "camp.district": "District",
        "camp.state": "State",
        "camp.last": "Last attempt",
        "camp.lists": "Contact lists",
        "camp.contacts": "People",
        "camp.updated": "Updated",
        "camp.no_lists": "No list imported yet.",
        "camp.import": "Import a CSV file",
        "camp.import_list": "List name",
        "camp.import_file": "File (number, name, language, district, other columns)",
        "camp.import_submit": "Import",
        "camp.import_done": "Imported.",
        "camp.import_unchanged": "The same file again: nothing changed.",
        "camp.import_refused": "Nothing was imported. Bad rows:",
        "camp.line": "Line",
        "camp.reason": "Reason",
        "camp.alerts": "Emergency alerts",
        "camp.no_alerts": "No open alerts.",
        "camp.raised": "Raised",
        "camp.ack": "Acknowledge",
        "daystate.pending": "pending",
        "daystate.in_flight": "calling",
        "daystate.reached": "reached",
        "daystate.not_reached": "not reached",
        "daystate.unknown": "unknown",
        "daystate.refused": "not dialled",
        "wb.alert": "Emergency",
        "wb.alert_pressed": "pressed the emergency key",
        "wb.alert_ack": "Acknowledge",
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
        "nav.campaigns": "الحملات",
        "lang.hi": "الهندية",
        "camp.title": "حملات المتابعة",
        "camp.day": "اليوم",
        "camp.campaign": "الحملة",
        "camp.list": "القائمة",
        "camp.reached": "تم الوصول إليهم",
        "camp.not_reached": "لم يتم الوصول إليهم بعد كل المحاولات",
        "camp.pending": "في الانتظار",
        "camp.in_flight": "جارٍ الاتصال",
        "camp.unknown": "غير معروف (إعادة تشغيل)",
        "camp.refused": "لم يُتصل بهم",
        "camp.well": "1 · بخير",
        "camp.doctor": "2 · طبيب",
        "camp.emergency": "9 · طوارئ",
        "camp.no_key": "بلا مفتاح",
        "camp.attempts": "المحاولات",
        "camp.off": "متوقفة",
        "camp.people": "من لم يتم الوصول إليهم بعد",
        "camp.export": "تصدير CSV",
        "camp.everyone": "تم الوصول إلى الجميع.",
        "camp.name": "الاسم",
        "camp.number": "الرقم",
        "camp.language": "اللغة",
        "camp.district": "المنطقة",
        "camp.state": "الحالة",
        "camp.last": "آخر محاولة",
        "camp.lists": "قوائم الاتصال",
        "camp.contacts": "الأشخاص",
        "camp.updated": "التحديث",
        "camp.no_lists": "لم تُستورد أي قائمة بعد.",
        "camp.import": "استيراد ملف CSV",
        "camp.import_list": "اسم القائمة",
        "camp.import_file": "الملف (الرقم، الاسم، اللغة، المنطقة، أعمدة أخرى)",
        "camp.import_submit": "استيراد",
        "camp.import_done": "تم الاستيراد.",
        "camp.import_unchanged": "الملف نفسه مرة أخرى: لم يتغير شيء.",
        "camp.import_refused": "لم يُستورد شيء. الصفوف الخاطئة:",
        "camp.line": "السطر",
        "camp.reason": "السبب",
        "camp.alerts": "تنبيهات الطوارئ",
        "camp.no_alerts": "لا تنبيهات مفتوحة.",
        "camp.raised": "الوقت",
        "camp.ack": "تأكيد الاستلام",
        "daystate.pending": "في الانتظار",
        "daystate.in_flight": "جارٍ الاتصال",
        "daystate.reached": "تم الوصول",
        "daystate.not_reached": "لم يتم الوصول",
        "daystate.unknown": "غير معروف",
        "daystate.refused": "لم يُتصل",
        "wb.alert": "طوارئ",
        "wb.alert_pressed": "ضغط مفتاح الطوارئ",
        "wb.alert_ack": "تأكيد الاستلام",
    },
    "hi": {
        "title": "हॉटलाइन पर्यवेक्षक कंसोल",
        "brand": "हॉटलाइन",
        "nav.wallboard": "वॉलबोर्ड",
        "nav.agents": "कर्मचारी",
        "nav.queues": "कतारें",
        "nav.callbacks": "कॉल बैक",
        "nav.reports": "रिपोर्ट",
        "nav.survey": "संतुष्टि",
        "nav.calendar": "कैलेंडर",
        "nav.screening": "अवरुद्ध नंबर",
        "nav.recordings": "रिकॉर्डिंग",
        "recording.off.disk_full": "रिकॉर्डिंग बंद है: डिस्क भर गई है। कॉल बिना रिकॉर्डिंग के जारी हैं।",
        "recording.off.unwritable": "रिकॉर्डिंग बंद है: रिकॉर्डिंग फ़ोल्डर में लिखा नहीं जा सकता। कॉल बिना रिकॉर्डिंग के जारी हैं।",
        "login.title": "साइन इन",
        "login.name": "उपयोगकर्ता नाम",
        "login.password": "पासवर्ड",
        "login.submit": "साइन इन करें",
        "login.failed": "उपयोगकर्ता नाम या पासवर्ड गलत है।",
        "login.throttled": "बहुत सारे असफल साइन-इन। कुछ मिनट बाद फिर कोशिश करें।",
        "logout": "साइन आउट",
        "nav.account": "मेरा पासवर्ड",
        "account.title": "मेरा पासवर्ड बदलें",
        "account.old": "मौजूदा पासवर्ड",
        "account.new": "नया पासवर्ड (10 या अधिक अक्षर)",
        "account.again": "नया पासवर्ड दोबारा",
        "account.submit": "पासवर्ड बदलें",
        "account.changed": "आपका पासवर्ड बदल गया है; आपके दूसरे सत्र समाप्त हो गए हैं।",
        "account.wrong_old": "मौजूदा पासवर्ड गलत है।",
        "account.differ": "दोनों नए पासवर्ड अलग-अलग हैं।",
        "account.bad_new": "नया पासवर्ड 10 से 1024 अक्षरों का होना चाहिए।",
        "language.switch": "English",
        "role.supervisor": "पर्यवेक्षक",
        "role.viewer": "दर्शक (केवल पढ़ें)",
        "live.connected": "लाइव",
        "live.disconnected": "फिर से जुड़ रहा है…",
        "wb.queue": "कतार",
        "wb.waiting": "प्रतीक्षा में",
        "wb.longest": "सबसे लंबी प्रतीक्षा",
        "wb.sl": "आज का सेवा स्तर",
        "wb.available": "उपलब्ध",
        "wb.on_call": "कॉल पर",
        "wb.paused": "विराम पर",
        "wb.callbacks": "लंबित कॉल बैक",
        "wb.seats": "सीटें",
        "wb.total": "सभी कतारें",
        "wb.sl_note": "सेवा स्तर: 20 सेकंड के भीतर उत्तर दी गई कॉल / उत्तर दी गई कॉल, आधी रात से।",
        "agent.id": "व्यक्ति",
        "agent.name": "नाम",
        "agent.kind": "प्रकार",
        "agent.state": "स्थिति",
        "agent.queues": "अभी की कतारें",
        "agent.languages": "भाषाएँ",
        "agent.skills": "विषय / विशेषज्ञताएँ",
        "agent.actions": "कार्य",
        "agent.login": "लॉग इन",
        "agent.logout": "लॉग आउट",
        "agent.pause": "विराम",
        "agent.unpause": "विराम हटाएँ",
        "agent.listen": "सुनें",
        "agent.whisper": "फुसफुसाएँ",
        "agent.barge": "बातचीत में शामिल हों",
        "agent.ear_note": "सुनना, फुसफुसाना (व्यक्ति आपको सुनता है) और शामिल होना (दोनों आपको सुनते हैं) "
        "आपके अपने फ़ोन पर घंटी बजाते हैं, वह पर्यवेक्षक फ़ोन जिससे आपका उपयोगकर्ता जुड़ा है; "
        "सुनने या फुसफुसाने में कॉल करने वाले को कुछ सुनाई नहीं देता।",
        "agent.edit_skills": "कौशल सहेजें",
        "agent.skills_note": "बदले गए कौशल सहेजे जाते हैं और व्यक्ति के अगले लॉग इन पर रूटिंग में लागू होते हैं।",
        "agent.override": "पर्यवेक्षक द्वारा बदला गया",
        "state.logged_out": "लॉग आउट",
        "state.available": "उपलब्ध",
        "state.ringing": "घंटी बज रही है",
        "state.on_call": "कॉल पर",
        "state.wrap_up": "कॉल समापन",
        "state.paused": "विराम पर",
        "queue.name": "कतार",
        "queue.language": "भाषा",
        "queue.topic": "विषय",
        "queue.seats_now": "अभी की सीटें",
        "queue.seats_shift": "प्रति पाली सीटें (प्रोफ़ाइल)",
        "queue.current_shift": "मौजूदा पाली",
        "queue.members": "सदस्य (प्रोफ़ाइल)",
        "queue.live": "लॉग इन",
        "queue.overflow": "अतिप्रवाह",
        "queue.set_seats": "तय करें",
        "queue.rules": "रूटिंग नियम",
        "queue.widen_after": "इतने सेकंड बाद दूसरे कौशल तक बढ़ाएँ",
        "queue.overflow_after": "इतने सेकंड बाद अतिप्रवाह",
        "cb.id": "#",
        "cb.number": "नंबर",
        "cb.queue": "कतार",
        "cb.origin": "स्रोत",
        "cb.status": "स्थिति",
        "cb.attempts": "प्रयास",
        "cb.next": "अगला प्रयास",
        "cb.cancel": "रद्द करें",
        "cb.reschedule": "समय बदलें",
        "cb.call_now": "अभी कॉल करें",
        "cb.none": "कोई कॉल बैक अनुरोध नहीं।",
        "cb.show_all": "बंद अनुरोध भी दिखाएँ",
        "rep.day": "दिन",
        "rep.interval": "अंतराल (मिनट)",
        "rep.show": "दिखाएँ",
        "rep.staffing": "आवश्यक बनाम उपस्थित लोग",
        "rep.start": "अंतराल",
        "rep.offered": "आई कॉल",
        "rep.answered": "उत्तर दी गई",
        "rep.sl": "सेवा स्तर",
        "rep.needed": "आवश्यक",
        "rep.present": "उपस्थित",
        "rep.gap": "अंतर",
        "rep.none": "उस दिन कोई कॉल नहीं।",
        "rep.shifts": "प्रति पाली आवश्यक सीटें",
        "rep.shift": "पाली",
        "rep.peak": "अधिकतम आवश्यक",
        "rep.seats_needed": "अनुपस्थिति के बाद सीटें",
        "wb.today": "आज की कॉल, प्रति आधा घंटा",
        "wb.offered": "आई कॉल",
        "wb.answered": "उत्तर दी गई",
        "wb.no_calls": "आज अभी तक कोई कॉल नहीं।",
        "wb.sl_none": "सेवा स्तर: आज कॉल का उत्तर दिए जाने पर दिखेगा।",
        "lang.ar": "अरबी",
        "lang.en": "अंग्रेज़ी",
        "shift.morning": "सुबह",
        "shift.day": "दिन",
        "shift.evening": "शाम",
        "shift.night": "रात",
        "shift.afternoon": "दोपहर",
        "msg.done": "हो गया।",
        "msg.failed": "अस्वीकृत:",
        "msg.read_only": "आप देख सकते हैं पर कुछ बदल नहीं सकते (दर्शक)।",
        "msg.no_call": "इस व्यक्ति की अभी कोई चालू कॉल नहीं है।",
        "msg.ringing": "आपका फ़ोन बज रहा है: सुनने के लिए उत्तर दें।",
        "nav.campaigns": "अभियान",
        "lang.hi": "हिन्दी",
        "camp.title": "फ़ॉलो-अप अभियान",
        "camp.day": "दिन",
        "camp.campaign": "अभियान",
        "camp.list": "सूची",
        "camp.reached": "संपर्क हुआ",
        "camp.not_reached": "सभी प्रयासों के बाद भी संपर्क नहीं हुआ",
        "camp.pending": "बाकी",
        "camp.in_flight": "अभी कॉल हो रही है",
        "camp.unknown": "अज्ञात (पुनः आरंभ)",
        "camp.refused": "कॉल नहीं की गई",
        "camp.well": "1 · ठीक हैं",
        "camp.doctor": "2 · डॉक्टर",
        "camp.emergency": "9 · आपातकाल",
        "camp.no_key": "कोई बटन नहीं",
        "camp.attempts": "प्रयास",
        "camp.off": "बंद",
        "camp.people": "जिनसे अभी तक संपर्क नहीं हुआ",
        "camp.export": "CSV के रूप में निर्यात करें",
        "camp.everyone": "सभी से संपर्क हो गया है।",
        "camp.name": "नाम",
        "camp.number": "नंबर",
        "camp.language": "भाषा",
        "camp.district": "ज़िला",
        "camp.state": "स्थिति",
        "camp.last": "अंतिम प्रयास",
        "camp.lists": "संपर्क सूचियाँ",
        "camp.contacts": "लोग",
        "camp.updated": "अद्यतन",
        "camp.no_lists": "अभी तक कोई सूची आयात नहीं हुई।",
        "camp.import": "CSV फ़ाइल आयात करें",
        "camp.import_list": "सूची का नाम",
        "camp.import_file": "फ़ाइल (नंबर, नाम, भाषा, ज़िला, अन्य कॉलम)",
        "camp.import_submit": "आयात करें",
        "camp.import_done": "आयात हो गया।",
        "camp.import_unchanged": "वही फ़ाइल दोबारा: कुछ नहीं बदला।",
        "camp.import_refused": "कुछ भी आयात नहीं हुआ। गलत पंक्तियाँ:",
        "camp.line": "पंक्ति",
        "camp.reason": "कारण",
        "camp.alerts": "आपातकालीन अलर्ट",
        "camp.no_alerts": "कोई खुला अलर्ट नहीं।",
        "camp.raised": "समय",
        "camp.ack": "स्वीकार करें",
        "daystate.pending": "बाकी",
        "daystate.in_flight": "कॉल हो रही है",
        "daystate.reached": "संपर्क हुआ",
        "daystate.not_reached": "संपर्क नहीं हुआ",
        "daystate.unknown": "अज्ञात",
        "daystate.refused": "कॉल नहीं की गई",
        "wb.alert": "आपातकाल",
        "wb.alert_pressed": "ने आपातकालीन बटन दबाया",
        "wb.alert_ack": "स्वीकार करें",
    },
}


def t(language: str, key: str) -> str:
    table = CATALOGUE.get(language) or CATALOGUE["en"]
    return table.get(key) or CATALOGUE["en"].get(key) or key


def pick_language(accept: str | None, languages: tuple[str, ...] = LANGUAGES) -> str:
    """The login page's language before a user is known: the browser's first choice when it is one of
    ``languages`` (Arabic, Hindi), else English."""
    first = (accept or "").split(",")[0].strip().lower()
    return next((code for code in languages if code != "en" and first.startswith(code)), "en")


def console_languages(profile: Profile) -> tuple[str, ...]:
    """The languages the console offers for ``profile``: the profile's own that it has strings for, in the
    profile's order, and English."""
    own = tuple(code for code in profile.language_codes if code in CATALOGUE)
    return own if "en" in own else (*own, "en")


def next_language(profile: Profile, language: str) -> str:
    """The language the switch in the header goes to from ``language``: the next of :func:`console_languages`."""
    offered = console_languages(profile)
    if language not in offered:
        return offered[0]
    return offered[(offered.index(language) + 1) % len(offered)]


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
