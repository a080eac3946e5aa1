#include "services/notification/catalog.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace protectogram::notification {
namespace {

using K = TextKind;

// The product's texts. Conventions (docs/messages.md): {name} is the traveler, {guardian} a guardian; buttons
// are named inside a text in “…” (Russian, English) or «…» (Spanish); the bot speaks as "мы"/"we" and
// addresses the user as "вы"/"you"/"usted". Texts marked by the charter (protectogram-charter §7, SPEC §1, §4)
// are carried exactly.
constexpr Template kTemplates[] = {
    // --- Panic: guardians ---------------------------------------------------------------------------------
    {"panic.alert", K::kMessage,  //
     "Тревога от {name}! Нажмите “Я беру ответственность”.",
     "Alert from {name}! Press “I take responsibility”.",  //
     "¡Alerta de {name}! Pulse «Me hago responsable»."},
    {"panic.alert.button_ack", K::kButton,  //
     "Я беру ответственность", "I take responsibility", "Me hago responsable"},
    {"panic.reminder", K::kMessage,
     "Напоминание: тревога от {name} всё ещё не принята. Нажмите “Я беру ответственность”.",
     "Reminder: the alert from {name} is still open. Press “I take responsibility”.",
     "Recordatorio: la alerta de {name} sigue abierta. Pulse «Me hago responsable»."},
    {"panic.acknowledged_self", K::kMessage,  //
     "Вы взяли ответственность. Свяжитесь с {name} как можно скорее: {phone}",
     "You have taken responsibility. Contact {name} as soon as possible: {phone}",
     "Usted se ha hecho responsable. Contacte con {name} lo antes posible: {phone}"},
    {"panic.acknowledged_other", K::kMessage,  //
     "Уже взял(а) {guardian}", "Already taken by {guardian}", "Ya se ha hecho responsable {guardian}"},
    {"panic.already_acknowledged", K::kCallbackAnswer,  //
     "Уже взял(а) {guardian}", "Already taken by {guardian}", "Ya se ha hecho responsable {guardian}"},
    {"panic.nothing_to_cancel", K::kMessage,  //
     "Сейчас нет поднятой тревоги.", "There is no alarm to cancel.", "No hay ninguna alarma activa."},
    {"panic.ack_thanks", K::kCallbackAnswer,  //
     "Спасибо! {name} узнает, что вы взяли ответственность.",
     "Thank you! {name} will know that you have taken responsibility.",
     "¡Gracias! {name} sabrá que usted se ha hecho responsable."},
    {"panic.not_your_alert", K::kCallbackAnswer,  //
     "Эта тревога адресована не вам.", "This alert is not addressed to you.",
     "Esta alerta no está dirigida a usted."},
    {"panic.alert_closed", K::kCallbackAnswer,  //
     "Эта тревога уже закрыта.", "This alert is already closed.", "Esta alerta ya está cerrada."},
    {"panic.canceled_guardian", K::kMessage,  //
     "{name} отменил(а) тревогу.", "{name} has canceled the alarm.", "{name} ha cancelado la alarma."},

    // --- Panic: traveler ----------------------------------------------------------------------------------
    {"panic.traveler_confirmation", K::kMessage,
     "Тревога поднята. Мы оповестили ваших хранителей и звоним им по очереди, пока кто-то не возьмёт "
     "ответственность.",
     "The alarm is raised. We have alerted your guardians and are calling them one by one until one of them "
     "takes responsibility.",
     "La alarma está activada. Hemos avisado a sus guardianes y los llamamos uno por uno hasta que alguno se "
     "haga responsable."},
    {"panic.button_cancel", K::kButton,  //
     "Отменить тревогу", "Cancel the alarm", "Cancelar la alarma"},
    {"panic.already_active", K::kMessage,
     "Тревога уже поднята, хранители оповещены. Чтобы отменить её, нажмите “Отменить тревогу”.",
     "The alarm is already raised and your guardians have been alerted. To cancel it, press “Cancel the "
     "alarm”.",
     "La alarma ya está activada y sus guardianes han sido avisados. Para cancelarla, pulse «Cancelar la "
     "alarma»."},
    {"panic.no_guardians", K::kMessage,
     "У вас пока нет хранителей, которым можно отправить тревогу. Пригласите хранителя кнопкой “Пригласить "
     "хранителя”.",
     "You have no guardians to alert yet. Invite one with the “Invite a guardian” button.",
     "Todavía no tiene guardianes a quienes avisar. Invite a uno con el botón «Invitar a un guardián»."},
    {"panic.acknowledged_traveler", K::kMessage,  //
     "{guardian} берёт ответственность", "{guardian} is taking responsibility",
     "{guardian} se hace responsable"},
    {"panic.calls_exhausted", K::kMessage,
     "Никто из хранителей не ответил на звонки. Мы продолжаем напоминать им в Telegram.",
     "None of your guardians answered the calls. We keep reminding them in Telegram.",
     "Ninguno de sus guardianes contestó las llamadas. Seguimos avisándoles por Telegram."},
    {"panic.canceled_traveler", K::kMessage,  //
     "Тревога отменена. Звонки и напоминания остановлены.",
     "The alarm is canceled. Calls and reminders have stopped.",
     "La alarma está cancelada. Las llamadas y los recordatorios se han detenido."},

    // --- Calls (spoken) -----------------------------------------------------------------------------------
    {"call.panic_tts", K::kSpeech,  //
     "Тревога! Срочно свяжитесь с {name}. Нажмите 1, чтобы подтвердить.",
     "Alert! Contact {name} urgently. Press 1 to confirm.",
     "¡Alerta! Contacte urgentemente con {name}. Pulse 1 para confirmar."},
    {"call.ack_tts", K::kSpeech,  //
     "Спасибо, подтверждение получено.", "Thank you, your confirmation has been received.",
     "Gracias, hemos recibido su confirmación."},
    {"call.test_tts", K::kSpeech,
     "Это тестовый звонок Протектограм от {name}. Ничего не случилось. Нажмите 1, чтобы подтвердить, что вы "
     "слышите это сообщение.",
     "This is a Protectogram test call from {name}. Nothing has happened. Press 1 to confirm that you can "
     "hear "
     "this message.",
     "Esta es una llamada de prueba de Protectogram de parte de {name}. No ha pasado nada. Pulse 1 para "
     "confirmar que escucha este mensaje."},

    // --- Bot basics and the traveler's menu ---------------------------------------------------------------
    {"bot.non_text", K::kMessage,  //
     "Я понимаю только текст и кнопки.", "I only understand text and buttons.",
     "Solo entiendo texto y botones."},
    {"bot.unknown_input", K::kMessage,  //
     "Не удалось разобрать сообщение. Выберите действие кнопками ниже.",
     "Sorry, I did not get that. Choose an action with the buttons below.",
     "No he entendido el mensaje. Elija una acción con los botones de abajo."},
    {"bot.start_registered", K::kMessage,  //
     "Здравствуйте, {name}! Если вам понадобится помощь, нажмите “Тревога”.",
     "Hello, {name}! If you ever need help, press “Panic”.",  //
     "¡Hola, {name}! Si necesita ayuda, pulse «Alarma»."},
    {"bot.help", K::kMessage,
     "Protectogram оповещает ваших хранителей, если вам нужна помощь.\n"
     "/panic или “Тревога” — поднять тревогу\n"
     "/cancel — отменить тревогу\n"
     "/invite или “Пригласить хранителя” — ссылка-приглашение для нового хранителя\n"
     "/guardians или “Мои хранители” — изменить порядок звонков, удалить хранителя или сделать тестовый "
     "звонок\n"
     "/help — эта справка",
     "Protectogram alerts your guardians when you need help.\n"
     "/panic or “Panic”: raise the alarm\n"
     "/cancel: cancel the alarm\n"
     "/invite or “Invite a guardian”: an invite link for a new guardian\n"
     "/guardians or “My guardians”: change the call order, remove a guardian or make a test call\n"
     "/help: this help",
     "Protectogram avisa a sus guardianes cuando usted necesita ayuda.\n"
     "/panic o «Alarma»: dar la alarma\n"
     "/cancel: cancelar la alarma\n"
     "/invite o «Invitar a un guardián»: un enlace de invitación para un nuevo guardián\n"
     "/guardians o «Mis guardianes»: cambiar el orden de llamadas, eliminar a un guardián o hacer una "
     "llamada de prueba\n"
     "/help: esta ayuda"},
    {"menu.button_panic", K::kButton, "🆘 Тревога", "🆘 Panic", "🆘 Alarma"},
    {"menu.button_trip", K::kButton, "Я выхожу", "I'm heading out", "Salgo ahora"},
    {"menu.button_guardians", K::kButton, "👥 Мои хранители", "👥 My guardians", "👥 Mis guardianes"},
    {"menu.button_invite", K::kButton,  //
     "➕ Пригласить хранителя", "➕ Invite a guardian", "➕ Invitar a un guardián"},
    {"menu.button_operator", K::kButton,  //
     "Связаться с оператором", "Contact an operator", "Hablar con un operador"},

    // --- Registration -------------------------------------------------------------------------------------
    {"registration.ask_phone", K::kMessage,
     "Здравствуйте! Это Protectogram: одной кнопкой вы поднимаете тревогу, и мы оповещаем ваших хранителей. "
     "Чтобы начать, поделитесь номером телефона кнопкой “Поделиться номером”.",
     "Hello! This is Protectogram: one button raises the alarm, and we alert your guardians. To start, share "
     "your phone number with the “Share my number” button.",
     "¡Hola! Esto es Protectogram: con un solo botón usted da la alarma y nosotros avisamos a sus "
     "guardianes. "
     "Para empezar, comparta su número de teléfono con el botón «Compartir mi número»."},
    {"registration.button_share_phone", K::kButton,  //
     "📱 Поделиться номером", "📱 Share my number", "📱 Compartir mi número"},
    {"registration.foreign_contact", K::kMessage,
     "Это чужой контакт. Чтобы зарегистрироваться, отправьте свой номер кнопкой “Поделиться номером”.",
     "That is someone else's contact. To register, send your own number with the “Share my number” button.",
     "Ese es el contacto de otra persona. Para registrarse, envíe su propio número con el botón «Compartir "
     "mi "
     "número»."},
    {"registration.invalid_phone", K::kMessage,
     "Не удалось распознать номер телефона. Попробуйте ещё раз кнопкой “Поделиться номером”.",
     "We could not read that phone number. Please try again with the “Share my number” button.",
     "No hemos podido leer ese número de teléfono. Inténtelo de nuevo con el botón «Compartir mi número»."},
    {"registration.done", K::kMessage,
     "Готово, {name}, вы зарегистрированы. Теперь пригласите хранителей — тех, кого мы оповестим, если вам "
     "понадобится помощь: кнопка “Пригласить хранителя”.",
     "Done, {name}, you are registered. Now invite your guardians, the people we alert if you ever need "
     "help: "
     "press “Invite a guardian”.",
     "Listo, {name}: su registro está completo. Ahora invite a sus guardianes, las personas a las que "
     "avisaremos si necesita ayuda: pulse «Invitar a un guardián»."},

    // --- Invites ------------------------------------------------------------------------------------------
    {"invite.link", K::kMessage,
     "Перешлите эту ссылку человеку, которого хотите сделать своим хранителем. Она действует 7 дней и только "
     "один раз:\n{link}",
     "Forward this link to the person you want as your guardian. It works once and expires in 7 "
     "days:\n{link}",
     "Reenvíe este enlace a la persona que quiere como guardián. Sirve una sola vez y caduca en 7 "
     "días:\n{link}"},
    {"invite.ask_phone", K::kMessage,
     "{name} приглашает вас стать хранителем: вы получите сообщение и звонок, если {name} поднимет тревогу. "
     "Чтобы принять приглашение, поделитесь номером телефона кнопкой “Поделиться номером”.",
     "{name} invites you to be a guardian: you will get a message and a call if {name} raises the alarm. To "
     "accept, share your phone number with the “Share my number” button.",
     "{name} le invita a ser su guardián: recibirá un mensaje y una llamada si {name} da la alarma. Para "
     "aceptar, comparta su número de teléfono con el botón «Compartir mi número»."},
    {"invite.accepted_guardian", K::kMessage,
     "Вы стали хранителем для {name}. Если {name} поднимет тревогу, мы напишем вам здесь и позвоним.",
     "You are now a guardian for {name}. If {name} raises the alarm, we will message you here and call you.",
     "Ahora es guardián de {name}. Si {name} da la alarma, le escribiremos aquí y le llamaremos."},
    {"invite.accepted_traveler", K::kMessage,  //
     "{guardian} теперь ваш хранитель.", "{guardian} is now your guardian.",
     "{guardian} ahora es su guardián."},
    {"invite.expired", K::kMessage,
     "Эта ссылка-приглашение недействительна или её срок истёк. Попросите прислать новую.",
     "This invite link is not valid or has expired. Ask for a new one.",
     "Este enlace de invitación no es válido o ha caducado. Pida uno nuevo."},
    {"invite.used", K::kMessage,  //
     "Эта ссылка-приглашение уже использована. Попросите прислать новую.",
     "This invite link has already been used. Ask for a new one.",
     "Este enlace de invitación ya se ha usado. Pida uno nuevo."},
    {"invite.own", K::kMessage,
     "Это ваша собственная ссылка-приглашение. Перешлите её тому, кого хотите сделать хранителем.",
     "This is your own invite link. Forward it to the person you want as your guardian.",
     "Este es su propio enlace de invitación. Reenvíelo a la persona que quiere como guardián."},
    {"invite.already_guardian", K::kMessage,
     "Вы уже хранитель для {name}. Если {name} поднимет тревогу, мы напишем вам здесь и позвоним.",
     "You are already a guardian for {name}. If {name} raises the alarm, we will message you here and call "
     "you.",
     "Ya es guardián de {name}. Si {name} da la alarma, le escribiremos aquí y le llamaremos."},

    // --- Guardians: list, reorder, remove, test call ------------------------------------------------------
    {"guardians.list", K::kMessage,
     "Ваши хранители в порядке звонков. Нажмите на имя, чтобы изменить порядок, удалить хранителя или "
     "сделать тестовый звонок.",
     "Your guardians, in the order we call them. Tap a name to move, remove or test-call a guardian.",
     "Sus guardianes, en el orden en que los llamamos. Toque un nombre para moverlo, eliminarlo o hacerle "
     "una "
     "llamada de prueba."},
    {"guardians.empty", K::kMessage,
     "У вас пока нет хранителей. Пригласите первого кнопкой “Пригласить хранителя”.",
     "You have no guardians yet. Invite the first one with the “Invite a guardian” button.",
     "Todavía no tiene guardianes. Invite al primero con el botón «Invitar a un guardián»."},
    {"guardians.card", K::kMessage,  //
     "{guardian}, {phone}. Место в очереди звонков: {position}.",
     "{guardian}, {phone}. Place in the call order: {position}.",
     "{guardian}, {phone}. Lugar en el orden de llamadas: {position}."},
    {"guardians.button_up", K::kButton, "Выше", "Move up", "Subir"},
    {"guardians.button_down", K::kButton, "Ниже", "Move down", "Bajar"},
    {"guardians.button_test_call", K::kButton, "Тестовый звонок", "Test call", "Llamada de prueba"},
    {"guardians.button_remove", K::kButton, "Удалить", "Remove", "Eliminar"},
    {"guardians.button_back", K::kButton, "Назад", "Back", "Atrás"},
    {"guardians.remove_confirm", K::kMessage,
     "Удалить {guardian} из хранителей? Он(а) перестанет получать ваши тревоги.",
     "Remove {guardian} from your guardians? They will no longer get your alerts.",
     "¿Eliminar a {guardian} de sus guardianes? Dejará de recibir sus alertas."},
    {"guardians.button_remove_confirm", K::kButton, "Да, удалить", "Yes, remove", "Sí, eliminar"},
    {"guardians.removed", K::kMessage,  //
     "{guardian} больше не ваш хранитель.", "{guardian} is no longer your guardian.",
     "{guardian} ya no es su guardián."},
    {"guardians.removed_notice", K::kMessage,  //
     "{name} убрал(а) вас из своих хранителей.", "{name} has removed you from their guardians.",
     "{name} le ha quitado de sus guardianes."},
    {"guardians.test_call_started", K::kMessage,
     "Начинаем тестовый звонок. {guardian} услышит сообщение и сможет нажать 1 для подтверждения.",
     "Starting a test call. {guardian} will hear a message and can press 1 to confirm.",
     "Iniciamos una llamada de prueba. {guardian} oirá un mensaje y podrá pulsar 1 para confirmar."},
    {"guardians.test_call_confirmed", K::kMessage,
     "{guardian} ответил(а) и нажал(а) 1: звонки тревоги дойдут.",
     "{guardian} answered and pressed 1: alarm calls will get through.",
     "{guardian} contestó y pulsó 1: las llamadas de alarma llegarán."},
    {"guardians.test_call_failed", K::kMessage,
     "{guardian} не подтвердил(а) тестовый звонок. Проверьте номер и попробуйте ещё раз.",
     "{guardian} did not confirm the test call. Check the number and try again.",
     "{guardian} no confirmó la llamada de prueba. Compruebe el número e inténtelo de nuevo."},

    // --- Trip check-ins -----------------------------------------------------------------------------------
    {"checkin.ask_eta", K::kMessage,
     "Когда вы будете на месте? Напишите время, например 18:30, или сколько минут вы будете в пути, например "
     "45.",
     "When will you arrive? Send a time, like 18:30, or how many minutes you will be on the way, like 45.",
     "¿Cuándo llegará? Escriba una hora, por ejemplo 18:30, o cuántos minutos estará de camino, por ejemplo "
     "45."},
    {"checkin.started", K::kMessage,
     "Хорошо. В {eta} мы спросим, добрались ли вы. Если вы не ответите, мы оповестим ваших хранителей.",
     "OK. At {eta} we will ask whether you have arrived. If you do not answer, we will alert your guardians.",
     "De acuerdo. A las {eta} le preguntaremos si ha llegado. Si no responde, avisaremos a sus guardianes."},
    {"checkin.question", K::kMessage, "Вы на месте?", "Have you arrived?", "¿Ha llegado?"},
    {"checkin.button_ok", K::kButton, "Да, всё хорошо", "Yes, all good", "Sí, todo bien"},
    {"checkin.button_help", K::kButton, "Нужна помощь", "I need help", "Necesito ayuda"},
    {"checkin.reminder", K::kMessage,
     "Вы не ответили. Вы на месте? Если ответа не будет, мы оповестим ваших хранителей.",
     "You have not answered. Have you arrived? If you do not answer, we will alert your guardians.",
     "No ha respondido. ¿Ha llegado? Si no responde, avisaremos a sus guardianes."},
    {"checkin.whatsapp", K::kWhatsApp,  //
     "Protectogram: вы на месте? Ответьте 1 или “да”, если у вас всё хорошо.",
     "Protectogram: have you arrived? Reply 1 or “yes” if you are OK.",
     "Protectogram: ¿ha llegado? Responda 1 o «sí» si está bien."},
    {"checkin.call_tts", K::kSpeech,
     "Это Протектограм. Вы не ответили, добрались ли вы. Нажмите 1, если у вас всё хорошо.",
     "This is Protectogram. You have not told us whether you arrived. Press 1 if you are OK.",
     "Le llama Protectogram. No nos ha dicho si ha llegado. Pulse 1 si está bien."},
    {"checkin.confirmed", K::kMessage,  //
     "Отлично! Хорошо, что вы на месте.", "Great, glad you have arrived safely!",
     "¡Perfecto! Nos alegra que haya llegado bien."},
    {"checkin.escalated", K::kMessage,
     "Вы не ответили, поэтому тревога поднята: мы оповещаем ваших хранителей. Если у вас всё хорошо, нажмите "
     "“Отменить тревогу”.",
     "You did not answer, so the alarm is raised and we are alerting your guardians. If you are OK, press "
     "“Cancel the alarm”.",
     "No ha respondido, así que se ha activado la alarma y estamos avisando a sus guardianes. Si está bien, "
     "pulse «Cancelar la alarma»."},

    // --- Operators' chat and handoff ----------------------------------------------------------------------
    {"operator.dead_letters_alert", K::kMessage,
     "Внимание: недоставленных сообщений за последний час — {count}. Посмотреть их и отправить повторно "
     "можно "
     "через админ-API.",
     "Warning: dead letters in the last hour: {count}. List and redrive them through the admin API.",
     "Atención: mensajes no entregados en la última hora: {count}. Consúltelos y reenvíelos con la API de "
     "administración."},
    {"operator.incident_opened", K::kMessage,  //
     "Тревога: {name}, {phone}. Инцидент {incident_id}.", "Alarm: {name}, {phone}. Incident {incident_id}.",
     "Alarma: {name}, {phone}. Incidente {incident_id}."},
    {"operator.incident_escalated", K::kMessage,
     "Тревогу {name} ({phone}) никто не принял за {minutes} мин. Напоминания остановлены. Инцидент "
     "{incident_id}.",
     "Nobody has taken the alarm of {name} ({phone}) in {minutes} min. Reminders have stopped. Incident "
     "{incident_id}.",
     "Nadie ha atendido la alarma de {name} ({phone}) en {minutes} min. Los recordatorios se han detenido. "
     "Incidente {incident_id}."},
    {"operator.incident_repaired", K::kMessage,
     "Инцидент {incident_id} остался без следующего шага; он восстановлен. Это ошибка: проверьте журналы.",
     "Incident {incident_id} had no next step; it has been repaired. This is a bug: check the logs.",
     "El incidente {incident_id} se quedó sin siguiente paso; se ha reparado. Es un error: revise los "
     "registros."},
    {"operator.handoff_context", K::kMessage,
     "{name} ({phone}, чат {chat_id}) просит связаться с оператором.\nОтветить: /reply {chat_id} "
     "текст\nЗавершить: /close {chat_id}",
     "{name} ({phone}, chat {chat_id}) asks for an operator.\nReply: /reply {chat_id} text\nEnd: /close "
     "{chat_id}",
     "{name} ({phone}, chat {chat_id}) pide hablar con un operador.\nResponder: /reply {chat_id} "
     "texto\nTerminar: /close {chat_id}"},
    {"operator.handoff_message", K::kMessage,  //
     "{name} (чат {chat_id}): {text}", "{name} (chat {chat_id}): {text}", "{name} (chat {chat_id}): {text}"},
    {"operator.handoff_started", K::kMessage,  //
     "Передаём вас оператору ⏳ Он ответит здесь, в этом чате.",
     "Connecting you to an operator ⏳ They will answer here, in this chat.",
     "Le pasamos con un operador ⏳ Le responderá aquí, en este chat."},
    {"operator.handoff_relay", K::kMessage, "Оператор: {text}", "Operator: {text}", "Operador: {text}"},
    {"operator.handoff_closed", K::kMessage,
     "Оператор завершил разговор. Если понадобится помощь, нажмите “Тревога”.",
     "The operator has ended the conversation. If you need help, press “Panic”.",
     "El operador ha terminado la conversación. Si necesita ayuda, pulse «Alarma»."},

    // --- Environment and errors ---------------------------------------------------------------------------
    {"staging.not_allowed", K::kMessage,  //
     "Это тестовая версия Protectogram, доступ к ней ограничен.",
     "This is a test version of Protectogram with restricted access.",
     "Esta es una versión de prueba de Protectogram con acceso restringido."},
    {"error.try_later", K::kMessage,  //
     "Что-то пошло не так. Попробуйте ещё раз через минуту.",
     "Something went wrong. Please try again in a "
     "minute.",
     "Algo ha salido mal. Inténtelo de nuevo dentro de un minuto."},
    {"error.button_expired", K::kCallbackAnswer,  //
     "Эта кнопка больше не действует", "This button is no longer active", "Este botón ya no está activo"},
};

constexpr Locale kLocales[] = {Locale::kRu, Locale::kEn, Locale::kEs};

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }
bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// One piece of a parsed text: literal text, or a placeholder (`name` set).
struct Piece {
  std::string_view literal;
  std::string_view name;
  bool placeholder = false;
};

// Splits `text` into literals and placeholders; `{{` and `}}` become one-brace literals.
absl::StatusOr<std::vector<Piece>> Parse(std::string_view text) {
  std::vector<Piece> pieces;
  size_t start = 0;  // start of the pending literal
  size_t i = 0;
  auto flush = [&](size_t end) {
    if (end > start) pieces.push_back({.literal = text.substr(start, end - start)});
  };
  while (i < text.size()) {
    char c = text[i];
    if (c != '{' && c != '}') {
      ++i;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == c) {  // `{{` or `}}`: keep one brace
      flush(i + 1);
      i += 2;
      start = i;
      continue;
    }
    if (c == '}') {
      return absl::InvalidArgumentError(absl::StrCat("unmatched '}' at byte ", i));
    }
    size_t j = i + 1;
    if (j >= text.size() || !IsIdentStart(text[j])) {
      return absl::InvalidArgumentError(
          absl::StrCat("'{' at byte ", i, " does not start a {name} placeholder"));
    }
    while (j < text.size() && IsIdentChar(text[j])) ++j;
    if (j >= text.size() || text[j] != '}') {
      return absl::InvalidArgumentError(
          absl::StrCat("'{' at byte ", i, " does not start a {name} placeholder"));
    }
    flush(i);
    pieces.push_back({.name = text.substr(i + 1, j - i - 1), .placeholder = true});
    i = j + 1;
    start = i;
  }
  flush(text.size());
  return pieces;
}

std::vector<std::string> NamesOf(const std::vector<Piece>& pieces) {
  std::vector<std::string> names;
  for (const Piece& p : pieces) {
    if (p.placeholder) names.emplace_back(p.name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace

absl::StatusOr<Locale> ParseLocale(std::string_view tag) {
  auto unknown = [&] {
    return absl::InvalidArgumentError(absl::StrCat("unknown locale ", std::string(tag)));
  };
  size_t sep = tag.find_first_of("-_");
  std::string_view base = tag.substr(0, sep);
  // Subtags after the base: each 1 to 8 ASCII letters or digits, separated by '-' or '_'.
  if (sep != std::string_view::npos) {
    std::string_view rest = tag.substr(sep + 1);
    size_t len = 0;
    for (size_t i = 0; i <= rest.size(); ++i) {
      if (i == rest.size() || rest[i] == '-' || rest[i] == '_') {
        if (len == 0 || len > 8) return unknown();
        len = 0;
      } else if (IsAsciiAlnum(rest[i])) {
        ++len;
      } else {
        return unknown();
      }
    }
  }
  if (base.size() != 2) return unknown();
  std::string lower = {AsciiLower(base[0]), AsciiLower(base[1])};
  if (lower == "ru") return Locale::kRu;
  if (lower == "en") return Locale::kEn;
  if (lower == "es") return Locale::kEs;
  return unknown();
}

Locale LocaleOrDefault(std::string_view tag) {
  absl::StatusOr<Locale> locale = ParseLocale(tag);
  return locale.ok() ? *locale : kDefaultLocale;
}

std::string_view LocaleName(Locale locale) {
  switch (locale) {
    case Locale::kRu:
      return "ru";
    case Locale::kEn:
      return "en";
    case Locale::kEs:
      return "es";
  }
  return "ru";
}

std::string_view SpeechLanguage(Locale locale) {
  switch (locale) {
    case Locale::kRu:
      return "ru-RU";
    case Locale::kEn:
      return "en-US";
    case Locale::kEs:
      return "es-ES";
  }
  return "ru-RU";
}

std::string_view TextKindName(TextKind kind) {
  switch (kind) {
    case TextKind::kMessage:
      return "message";
    case TextKind::kButton:
      return "button";
    case TextKind::kCallbackAnswer:
      return "callback_answer";
    case TextKind::kSpeech:
      return "speech";
    case TextKind::kWhatsApp:
      return "whatsapp";
  }
  return "message";
}

std::string_view Template::Text(Locale locale) const {
  switch (locale) {
    case Locale::kRu:
      return ru;
    case Locale::kEn:
      return en;
    case Locale::kEs:
      return es;
  }
  return ru;
}

absl::StatusOr<std::vector<std::string>> PlaceholdersOf(std::string_view text) {
  absl::StatusOr<std::vector<Piece>> pieces = Parse(text);
  if (!pieces.ok()) return pieces.status();
  return NamesOf(*pieces);
}

absl::StatusOr<Catalog> Catalog::Create(std::vector<Template> templates) {
  Catalog catalog;
  for (size_t i = 0; i < templates.size(); ++i) {
    const Template& t = templates[i];
    const std::string id(t.id);
    if (id.empty()) return absl::InvalidArgumentError(absl::StrCat("template #", i, " has an empty id"));
    if (!catalog.index_.emplace(id, i).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate template ", id));
    }
    std::vector<std::string> russian;
    for (Locale locale : kLocales) {
      const std::string where = absl::StrCat("template ", id, " (", std::string(LocaleName(locale)), ")");
      std::string_view text = t.Text(locale);
      if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(where, " is empty"));
      absl::StatusOr<std::vector<std::string>> names = PlaceholdersOf(text);
      if (!names.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", std::string(names.status().message())));
      }
      if (locale == Locale::kRu) {
        russian = *names;
      } else if (*names != russian) {
        return absl::InvalidArgumentError(absl::StrCat(where, " has other parameters than the Russian text"));
      }
    }
    catalog.parameters_.push_back(std::move(russian));
  }
  catalog.templates_ = std::move(templates);
  return catalog;
}

const Catalog& Catalog::Default() {
  static const Catalog* const catalog = [] {
    absl::StatusOr<Catalog> built =
        Create(std::vector<Template>(std::begin(kTemplates), std::end(kTemplates)));
    if (!built.ok()) {
      std::fprintf(stderr, "the built-in message catalog is broken: %s\n", built.status().ToString().c_str());
      std::abort();
    }
    return new Catalog(*std::move(built));
  }();
  return *catalog;
}

const Template* Catalog::Find(std::string_view id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &templates_[it->second];
}

bool Catalog::Has(std::string_view id) const { return index_.find(id) != index_.end(); }

std::vector<std::string> Catalog::Parameters(std::string_view id) const {
  auto it = index_.find(id);
  return it == index_.end() ? std::vector<std::string>{} : parameters_[it->second];
}

absl::StatusOr<std::string> Catalog::Render(std::string_view id, std::string_view locale,
                                            const Params& params) const {
  if (!Has(id)) return absl::InvalidArgumentError(absl::StrCat("unknown template ", std::string(id)));
  absl::StatusOr<Locale> parsed = ParseLocale(locale);
  if (!parsed.ok()) return parsed.status();
  return Render(id, *parsed, params);
}

absl::StatusOr<std::string> Catalog::Render(std::string_view id, Locale locale, const Params& params) const {
  auto it = index_.find(id);
  if (it == index_.end())
    return absl::InvalidArgumentError(absl::StrCat("unknown template ", std::string(id)));
  const std::string name(id);
  for (const std::string& p : parameters_[it->second]) {
    if (params.find(p) == params.end()) {
      return absl::InvalidArgumentError(absl::StrCat("template ", name, " needs parameter {", p, "}"));
    }
  }
  for (const auto& [key, value] : params) {
    const std::vector<std::string>& expected = parameters_[it->second];
    if (!std::binary_search(expected.begin(), expected.end(), key)) {
      return absl::InvalidArgumentError(absl::StrCat("template ", name, " has no parameter {", key, "}"));
    }
  }
  // Create() parsed every text, so this cannot fail.
  absl::StatusOr<std::vector<Piece>> pieces = Parse(templates_[it->second].Text(locale));
  if (!pieces.ok()) return pieces.status();
  std::string out;
  for (const Piece& piece : *pieces) {
    if (piece.placeholder) {
      out += params.find(std::string(piece.name))->second;
    } else {
      out += piece.literal;
    }
  }
  return out;
}

}  // namespace protectogram::notification
