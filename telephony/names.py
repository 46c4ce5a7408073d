"""Names of the channel variables and user events shared by the dialplan and the service.

The dialplan templates receive these through the renderer, so a name is spelt in one place only.
"""

# Set by the IVR (FastAGI) for the dialplan.
RESULT = "HOTLINE_RESULT"  # "OK" when the IVR finished and the routing variables are valid
LANGUAGE = "HOTLINE_LANGUAGE"  # language code, e.g. "ar"
TOPIC = "HOTLINE_TOPIC"  # topic id, e.g. "medical"
SPECIALTY = "HOTLINE_SPECIALTY"  # specialty id for medical consultations, e.g. "paediatrics", or empty
QUEUE = "HOTLINE_QUEUE"  # the app_queue queue the dialplan enters
OVERFLOW_QUEUE = "HOTLINE_OVERFLOW_QUEUE"  # where the caller goes after waiting T2
PRIORITY = "HOTLINE_PRIORITY"  # app_queue priority (QUEUE_PRIO): urgent topics and callbacks first
AGENT_PROMPT = "HOTLINE_AGENT_PROMPT"  # the confirmation an agent hears after a feature code
PROMPT = "HOTLINE_PROMPT"  # a prompt the dialplan plays after an AGI (e.g. "callback booked")
JOINED_AT = "HOTLINE_JOINED_AT"  # epoch seconds the caller first joined a queue: their place
CALLBACK_ATTEMPT = "HOTLINE_CALLBACK_ATTEMPT"  # on a callback call: the attempt id
CALLBACK_NUMBER = "HOTLINE_CALLBACK_NUMBER"  # on a callback call: the caller's number
CALLBACK_OF = "HOTLINE_CALLBACK_OF"  # on a callback call: the linkedid of the original call
CALLBACK_BOOKED_USEREVENT = "HotlineCallbackBooked"  # a waiting caller booked a callback and leaves
CALLBACK_USEREVENT = "HotlineCallback"  # headers: Attempt, Number, Language, Queue, CallbackOf

# Outbound work (issue 14): campaign calls and an agent's click-to-call. The service originates them (AMI) into
# these contexts; the dialplan there dials the number through the trunk and sends OUTBOUND_USEREVENT from the
# channel that starts the call's record (headers: Kind, Number, Language, Campaign, Attempt, Person).
CAMPAIGN_CONTEXT = "hotline-campaign-out"  # the script played to the person who answers
MANUAL_CONTEXT = "hotline-manual-out"  # the agent's phone answered: now the number
OUTBOUND_USEREVENT = "HotlineOutbound"
OUTBOUND_KIND = "HOTLINE_OUTBOUND_KIND"  # "campaign" or "manual": the record's kind
OUTBOUND_NUMBER = "HOTLINE_OUTBOUND_NUMBER"  # the number dialled, as checked by the service
CAMPAIGN = "HOTLINE_CAMPAIGN"  # the campaign's id
CAMPAIGN_ATTEMPT = "HOTLINE_CAMPAIGN_ATTEMPT"  # the attempt's id
MANUAL_CALL = "HOTLINE_MANUAL_CALL"  # the manual call's id
OUTBOUND_PERSON = "HOTLINE_OUTBOUND_PERSON"  # a manual call: the agent (profile id) whose phone rang first
CAMPAIGN_KEY_USEREVENT = "HotlineCampaignKey"  # headers: Attempt, Key, Action (what the person keyed in the script)

RESULT_OK = "OK"
RESULT_REPORT = "REPORT"  # the IVR hands the caller to the self-service report (cases)
RESULT_FOLLOW = "FOLLOW"  # ... to "follow a report"
RESULT_RECORD = "RECORD"  # the report route asks the dialplan to record the voice note
RESULT_CLOSED = "CLOSED"  # the topic (or the hotline) is closed: the dialplan plays PROMPT, if any, and hangs up
RESULT_INFO = "INFO"  # an information topic was heard (the IVR announced it) and no person asked for: hang up
RESULT_MESSAGE = "MESSAGE"  # a closed topic that takes messages: the dialplan records one (VOICE_NOTE)

# Cases: set by the case routes (cases/agi.py) for the dialplan.
CASE_NUMBER = "HOTLINE_CASE_NUMBER"  # the case the readback is about (never the PIN)
CASE_PROMPT = "HOTLINE_CASE_PROMPT"  # files to play, '&'-joined: the number read back twice
CASE_PIN_PROMPT = "HOTLINE_CASE_PIN_PROMPT"  # ... then the PIN and goodbye
DISTRICT = "HOTLINE_DISTRICT"  # the district a self-service caller chose (or empty)
VOICE_NOTE = "HOTLINE_VOICE_NOTE"  # the voice note's file name (no folder, no extension)
VOICE_NOTES_DIR = "voice-notes"  # the instance's folder of voice notes (0700, Asterisk's user)
LIVE_PROMPTS_DIR = "follow"  # sounds/follow: sentences the service speaks at call time (a case's status)
CASE_READBACK_USEREVENT = "HotlineCaseReadback"  # headers: Case, Status (PLAYBACKSTATUS), Prompt
CASE_ANSWER = "HOTLINE_CASE_ANSWER"  # what a "follow a report" lookup answered: found, not_found, too_many
CASE_FOLLOW_USEREVENT = "HotlineCaseFollow"  # header: Answer (CASE_ANSWER), never the number keyed

# Recording (issue 12): a topic with record: true. The caller hears the notice before the queue; only a notice
# played to its end marks the call (RECORD, inherited by the agent's channel), and only a marked call is recorded,
# on the agent's channel once connected, into RECORDINGS_DIR/<linkedid>.wav (Asterisk's user, 0600).
RECORD = "HOTLINE_RECORD"  # the recorded topic, set on the caller's channel (inherited: __) after the notice
RECORDING_OFF = "HOTLINE_RECORDING_OFF"  # a global the service sets to a reason (e.g. DISK_FULL): no recording
RECORDINGS_DIR = "recordings"  # the instance's folder of call recordings (0700, Asterisk's user; ACL: the service)
RECORDING_NOTICE_USEREVENT = "HotlineRecordingNotice"  # headers: Topic, Language, Status (PLAYBACKSTATUS)
RECORDING_USEREVENT = "HotlineRecording"  # headers: Topic, Status (STARTED or OFF), File, Reason

# The dialplan announces the routing decision of each call with this UserEvent, right before Queue().
# Its headers: Language, Topic, Specialty, Queue, Result (OK, or FALLBACK when the IVR failed).
ROUTE_USEREVENT = "HotlineRoute"

# After the answer (issue 12): facts for the call's record (cdr.builder turns them into the call's legs).
# Sent in hotline-destinations by the channel that dials, right before Dial(): header Destination (its id).
DESTINATION_USEREVENT = "HotlineDestination"
# The conference: headers Call (the caller's linkedid), Destination (its id), State (one of the three below), Agent.
CONFERENCE_USEREVENT = "HotlineConference"
CONFERENCE_JOINED, CONFERENCE_AGENT_LEFT, CONFERENCE_LEFT = "joined", "agent-left", "left"

# Transfers (issue 12). An agent's transfer keys (features.conf) and a softphone's REFER land in TRANSFER_CONTEXT: one
# extension per short code of the profile's directory, nothing else. Destinations outside are dialled in one place,
# DESTINATIONS_CONTEXT (one extension per destination id: Local/<id>@hotline-destinations reaches one).
TRANSFER_CONTEXT = "hotline-transfer"
DESTINATIONS_CONTEXT = "hotline-destinations"
TRANSFER_LANGUAGE = "HOTLINE_TRANSFER_LANGUAGE"  # the caller's language, inherited (__) by the agent's channel
# A call handed on by a short code. Headers: Code, Kind (queue, person, destination), Target (the queue's name, the
# person's or the destination's id), How (BLIND: the caller's own channel, a blind transfer or REFER; ATTENDED: the
# agent's consultation call, a Local channel; OTHER), Transferer (the agent's channel, when Asterisk says).
TRANSFER_USEREVENT = "HotlineTransfer"
# DESTINATION_USEREVENT (above) also carries Call: the caller's linkedid (HOTLINE_LINKEDID on a conference's leg,
# else the channel's own). How that dial ended, after Dial() (or in h when the calling side hung up first): headers
# Destination, Call, Status (Dial's DIALSTATUS: ANSWER, BUSY, NOANSWER, CONGESTION, CHANUNAVAIL; CANCEL when the
# calling side hung up first), Talk (seconds answered, ANSWEREDTIME).
DESTINATION_RESULT_USEREVENT = "HotlineDestinationResult"
# A person's phone rung by a transfer's code: DESTINATION_USEREVENT with Kind: person before the Dial (the record's
# leg), then this after it. Headers: Person, Status (as above), Talk.
PERSON_TRANSFER_USEREVENT = "HotlinePersonTransfer"
# Destinations reached at a SIP URI leave through this endpoint (never the carrier's, whose credentials they must not
# see); it accepts nothing inbound.
DESTINATIONS_ENDPOINT = "trunk-destinations"

# Feature codes dialled from agent and doctor phones, and what they do.
FEATURE_CODES = {"*41": "login", "*42": "logout", "*43": "pause", "*44": "unpause"}


# -- Asterisk names: interfaces, queues and member penalties -----------------------------------------

PJSIP = "PJSIP/"
TRUNK_ENDPOINT = "trunk"


def interface(person_id: str) -> str:
    """The app_queue member interface (and device) of a person's phone: ``PJSIP/agent-ar-1``."""
    return f"{PJSIP}{person_id}"


def person_of_channel(channel: str) -> str | None:
    """``PJSIP/agent-ar-1-0000000a`` -> ``agent-ar-1``; None for a channel that is not a PJSIP one."""
    if not channel.startswith(PJSIP):
        return None
    name, sep, _ = channel[len(PJSIP) :].rpartition("-")
    return name if sep and name else None


def trunk_dial(number: str) -> str:
    """The dial string of an outside number through the trunk."""
    return f"{PJSIP}{number}@{TRUNK_ENDPOINT}"


def destination_dial(sip: str | None, number: str | None) -> str:
    """The dial string of a profile destination: its SIP URI through :data:`DESTINATIONS_ENDPOINT`, or its number
    through the trunk."""
    if sip:
        return f"{PJSIP}{DESTINATIONS_ENDPOINT}/{sip}"
    if number:
        return trunk_dial(number)
    raise ValueError("a destination needs a SIP URI or a number")


def queue_name(language: str, topic: str, specialty: str | None = None) -> str:
    """The app_queue name for a language and a topic (and specialty for doctors): ``ar-medical-paediatrics``."""
    return f"{language}-{topic}-{specialty}" if specialty else f"{language}-{topic}"


def overflow_queue_name(language: str, overflow_topic: str) -> str:
    """Where a caller of ``language`` goes after waiting T2: the overflow topic's queue of that language."""
    return queue_name(language, overflow_topic)


#: Member penalties are ``tier * TIER_WIDTH + rank`` (routing/policy.py); tier 0 is an exact match.
TIER_WIDTH = 100
#: Highest rank inside a tier (ranks are 0..MAX_RANK).
MAX_RANK = TIER_WIDTH - 1
#: Tier of an exact skill match and of a widened one.
EXACT, WIDENED = 0, 1
#: QUEUE_MAX_PENALTY of a new caller (tier 0 only), and after T1 (tiers 0 and 1).
EXACT_MAX_PENALTY = EXACT * TIER_WIDTH + MAX_RANK
WIDENED_MAX_PENALTY = WIDENED * TIER_WIDTH + MAX_RANK


# -- prompt files shared by the features (the IVR's prompt plan makes them) ----------------------


def agent_prompt(language: str, name: str) -> str:
    """A single-text prompt by name, e.g. ``ar/agent-logged-in`` or ``en/callback-offer``."""
    return f"{language}/{name.replace('_', '-')}"


def digit_prompt(language: str, digit: str) -> str:
    """One digit spoken in ``language``, e.g. ``ar/digit-7``."""
    return f"{language}/digit-{digit}"


# -- the whisper on connect and the supervisor's ear (issue 12) ------------------------------------------------

#: The dialplan global naming a queue's whisper file: ``HOTLINE_WHISPER_<queue>`` (only for queues that whisper).
WHISPER_PREFIX = "HOTLINE_WHISPER_"


def whisper_prompt(queue: str) -> str:
    """The prompt file of a queue's whisper (the caller's language and topic): ``whisper/ar-medical-paediatrics``."""
    return f"whisper/{queue}"
