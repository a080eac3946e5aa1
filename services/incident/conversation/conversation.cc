#include "services/incident/conversation/conversation.h"
