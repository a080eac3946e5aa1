#include "edge/openapi.h"

namespace protectogram::edge {
namespace {

// Kept by hand next to call_api.cc: a change to a route or a field changes this document too (the unit test
// checks every route is here). Shapes follow ivr-call-api's FastAPI schemas; message and language are ours.
constexpr char kOpenApi[] = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "Protectogram call API",
    "version": "1.0.0",
    "description": "The REST call API of ivr-call-api, served by the Protectogram edge (docs/call-api.md). Obtain a bearer token with POST /api/v1/token (OAuth2 password grant) and send it as `Authorization: Bearer <token>`. Origination is rate-limited per user (CALL_API_RATE_LIMIT, default 30/minute, counted by each edge replica on its own)."
  },
  "paths": {
    "/api/v1/token": {
      "post": {
        "tags": ["auth"],
        "summary": "Issue an access token",
        "operationId": "issue_token",
        "requestBody": {
          "required": true,
          "content": {
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/TokenForm"}}
          }
        },
        "responses": {
          "200": {"description": "The token", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Token"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "422": {"$ref": "#/components/responses/ValidationError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/api/v1/interaction/{number}": {
      "post": {
        "tags": ["calls"],
        "summary": "Originate a call to a number",
        "operationId": "originate_call",
        "security": [{"OAuth2PasswordBearer": []}],
        "parameters": [
          {"name": "number", "in": "path", "required": true, "description": "E.164: + and 8 to 15 digits (send + as %2B or as it is)", "schema": {"type": "string", "pattern": "^\\+[1-9][0-9]{7,14}$"}},
          {"$ref": "#/components/parameters/IdempotencyKey"}
        ],
        "requestBody": {
          "required": false,
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallRequest"}}}
        },
        "responses": {
          "200": {"description": "The call was placed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallResponse"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "422": {"$ref": "#/components/responses/ValidationError"},
          "429": {"$ref": "#/components/responses/TooManyRequests"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/api/v1/calls": {
      "post": {
        "tags": ["calls"],
        "summary": "Create a call (RESTful form of the interaction)",
        "operationId": "create_call",
        "security": [{"OAuth2PasswordBearer": []}],
        "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"}],
        "requestBody": {
          "required": true,
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallCreate"}}}
        },
        "responses": {
          "200": {"description": "The call was placed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallResponse"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "422": {"$ref": "#/components/responses/ValidationError"},
          "429": {"$ref": "#/components/responses/TooManyRequests"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/api/v1/calls/{call_id}": {
      "get": {
        "tags": ["calls"],
        "summary": "Get a call",
        "operationId": "get_call",
        "security": [{"OAuth2PasswordBearer": []}],
        "parameters": [{"$ref": "#/components/parameters/CallId"}],
        "responses": {
          "200": {"description": "The call", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallStatusResponse"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/api/v1/status/{call_id}": {
      "get": {
        "tags": ["calls"],
        "summary": "Get a call's status",
        "operationId": "get_call_status",
        "security": [{"OAuth2PasswordBearer": []}],
        "parameters": [{"$ref": "#/components/parameters/CallId"}],
        "responses": {
          "200": {"description": "The call", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallStatusResponse"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "OAuth2PasswordBearer": {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/api/v1/token", "scopes": {}}}
      }
    },
    "parameters": {
      "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": "Extension: a repeat with the same key (per user) never rings the phone twice and answers the call it placed.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 128}
      },
      "CallId": {
        "name": "call_id",
        "in": "path",
        "required": true,
        "schema": {"type": "string", "format": "uuid"}
      }
    },
    "responses": {
      "Unauthorized": {
        "description": "Missing or invalid credentials (\"Not authenticated\", \"Could not validate credentials\", \"Incorrect username or password\"); with WWW-Authenticate: Bearer",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
      },
      "Forbidden": {
        "description": "The number is not allowed here (staging allowlist)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
      },
      "NotFound": {
        "description": "Call not found",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
      },
      "TooManyRequests": {
        "description": "Rate limit exceeded (with Retry-After), or a spend cap is reached",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
      },
      "Unavailable": {
        "description": "Telephony service unavailable, or the call API is not configured",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
      },
      "ValidationError": {
        "description": "Validation error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}
      }
    },
    "schemas": {
      "TokenForm": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
          "grant_type": {"type": "string", "pattern": "password"},
          "username": {"type": "string"},
          "password": {"type": "string", "format": "password"},
          "scope": {"type": "string", "default": ""},
          "client_id": {"type": "string"},
          "client_secret": {"type": "string", "format": "password"}
        }
      },
      "Token": {
        "type": "object",
        "required": ["access_token", "token_type"],
        "properties": {
          "access_token": {"type": "string"},
          "token_type": {"type": "string", "example": "bearer"}
        }
      },
      "CallRequest": {
        "type": "object",
        "properties": {
          "context": {"type": "string", "minLength": 1, "maxLength": 50, "description": "Asterisk context (DEFAULT_CONTEXT)"},
          "extension": {"type": "string", "minLength": 1, "maxLength": 50, "description": "Destination extension (DEFAULT_EXTENSION)"},
          "priority": {"type": "integer", "minimum": 1, "maximum": 10, "description": "Dialplan priority (DEFAULT_PRIORITY)"},
          "timeout": {"type": "integer", "exclusiveMinimum": 0, "maximum": 600, "description": "Seconds of ringing (DEFAULT_TIMEOUT, 30)"},
          "caller_id": {"type": "string", "minLength": 1, "maxLength": 50, "description": "Caller ID (DEFAULT_CALLER_ID)"},
          "message": {"type": "string", "maxLength": 1000, "description": "Extension: the text to speak; empty or absent: telephony's default"},
          "language": {"type": "string", "maxLength": 35, "description": "Extension: the locale of message, e.g. ru-RU"}
        }
      },
      "CallCreate": {
        "allOf": [
          {"$ref": "#/components/schemas/CallRequest"},
          {
            "type": "object",
            "required": ["phone_number"],
            "properties": {"phone_number": {"type": "string", "pattern": "^\\+[1-9][0-9]{7,14}$"}}
          }
        ]
      },
      "CallResponse": {
        "type": "object",
        "required": ["success", "call_id", "phone_number", "message", "status", "created_at"],
        "properties": {
          "success": {"type": "boolean"},
          "call_id": {"type": "string", "format": "uuid"},
          "phone_number": {"type": "string"},
          "message": {"type": "string", "example": "Call initiated"},
          "channel": {"type": "string", "description": "The provider's call id, or empty"},
          "status": {"type": "string", "example": "dialing"},
          "created_at": {"type": "string", "format": "date-time"},
          "error": {"type": "string", "nullable": true}
        }
      },
      "CallStatusResponse": {
        "type": "object",
        "required": ["call_id", "phone_number", "status", "context", "extension", "caller_id", "created_at", "attempt_number", "is_active", "is_completed"],
        "properties": {
          "call_id": {"type": "string", "format": "uuid"},
          "phone_number": {"type": "string"},
          "status": {"type": "string", "enum": ["pending", "dialing", "ringing", "answered", "completed", "failed"]},
          "channel": {"type": "string", "nullable": true},
          "context": {"type": "string"},
          "extension": {"type": "string"},
          "caller_id": {"type": "string"},
          "created_at": {"type": "string", "format": "date-time", "nullable": true},
          "dialed_at": {"type": "string", "format": "date-time", "nullable": true},
          "answered_at": {"type": "string", "format": "date-time", "nullable": true},
          "ended_at": {"type": "string", "format": "date-time", "nullable": true},
          "duration": {"type": "integer", "nullable": true, "description": "Seconds"},
          "failure_reason": {"type": "string", "nullable": true},
          "attempt_number": {"type": "integer"},
          "is_active": {"type": "boolean"},
          "is_completed": {"type": "boolean"}
        }
      },
      "HTTPError": {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}}
      },
      "ValidationError": {
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
          "loc": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
          "msg": {"type": "string"},
          "type": {"type": "string"},
          "ctx": {"type": "object"}
        }
      },
      "HTTPValidationError": {
        "type": "object",
        "properties": {"detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}}
      }
    }
  }
})json";

}  // namespace

std::string_view CallApiOpenApiJson() { return kOpenApi; }

}  // namespace protectogram::edge
