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

RESULT_OK = "OK"

# The dialplan announces the routing decision of each call with this UserEvent, right before Queue().
# Its headers: Language, Topic, Specialty, Queue, Result (OK, or FALLBACK when the IVR failed).
ROUTE_USEREVENT = "HotlineRoute"

# Feature codes dialled from agent and doctor phones, and what they do.
FEATURE_CODES = {"*41": "login", "*42": "logout", "*43": "pause", "*44": "unpause"}
