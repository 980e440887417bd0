"""Chat commands (/start, /reset, /usage, /web) and every text chinwag itself says in a chat app.

The texts follow the chat client's `languageCode` (en, pt-BR, es; English otherwise), so a
Brazilian bot does not suddenly answer a limit in English.
"""

from __future__ import annotations

import math
from typing import Literal

from chinwag.records import ChatClient, Session

Command = Literal["start", "reset", "usage", "web"]
COMMANDS: tuple[Command, ...] = ("start", "reset", "usage", "web")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "hello": "Hello! How can I help you?",
        "reset": "The conversation was cleared. Let's start over.",
        "usage_off": "Usage details are not available in this chat.",
        "usage_title": "Usage of this chat session",
        "conversation": "Tokens in the current conversation",
        "input": "Input tokens",
        "output": "Output tokens",
        "total": "Total tokens",
        "messages": "Messages",
        "limits": "Limits",
        "max_tokens": "tokens per conversation",
        "max_input": "tokens per message",
        "per_hour": "messages per hour",
        "none": "none",
        "limit": "This conversation has reached a limit of this chat. "
        "Send /reset to start over, or try again later.",
        "rate": "You have sent too many messages. Please wait {wait} and try again.",
        "model": "The assistant is unavailable right now. Please try again in a moment.",
        "expired": "This conversation has expired. Send your message again to start a new one.",
        "unsupported": "Sorry, I can only read text messages.",
        "too_long": "Your message is too long for this chat. Please send a shorter one.",
        "not_read": "(I can only read text, so I answered the text of your message.)",
        "image_failed": "Sorry, I could not open that image. Please send it again.",
        "image_too_large": "That image is too large for me. Please send a smaller one.",
        "unsupported_again": "(not read: text only)",
        "linked": "Done: this chat now continues your conversation from the web page.",
        "link_invalid": "This link is invalid, was already used or has expired. "
        "Open the chat page and choose “Continue” again.",
        "link_group": "Please open this link in a private chat with me.",
        "web": "Continue this conversation on the web: {url}",
    },
    "pt-BR": {
        "hello": "Olá! Como posso ajudar?",
        "reset": "A conversa foi apagada. Vamos recomeçar.",
        "usage_off": "Os detalhes de uso não estão disponíveis neste chat.",
        "usage_title": "Uso desta sessão de chat",
        "conversation": "Tokens na conversa atual",
        "input": "Tokens de entrada",
        "output": "Tokens de saída",
        "total": "Tokens no total",
        "messages": "Mensagens",
        "limits": "Limites",
        "max_tokens": "tokens por conversa",
        "max_input": "tokens por mensagem",
        "per_hour": "mensagens por hora",
        "none": "nenhum",
        "limit": "Esta conversa atingiu um limite deste chat. "
        "Envie /reset para recomeçar ou tente novamente mais tarde.",
        "rate": "Você enviou mensagens demais. Aguarde {wait} e tente novamente.",
        "model": "O assistente está indisponível no momento. Tente novamente em instantes.",
        "expired": "Esta conversa expirou. Envie sua mensagem de novo para começar outra.",
        "unsupported": "Desculpe, só consigo ler mensagens de texto.",
        "too_long": "Sua mensagem é longa demais para este chat. Envie uma mais curta.",
        "not_read": "(Só consigo ler texto, então respondi ao texto da sua mensagem.)",
        "image_failed": "Desculpe, não consegui abrir essa imagem. Envie-a de novo.",
        "image_too_large": "Essa imagem é grande demais para mim. Envie uma menor.",
        "unsupported_again": "(não lida: só texto)",
        "linked": "Pronto: este chat agora continua a sua conversa da página web.",
        "link_invalid": "Este link é inválido, já foi usado ou expirou. "
        "Abra a página do chat e escolha “Continuar” de novo.",
        "link_group": "Abra este link em um chat privado comigo.",
        "web": "Continue esta conversa na web: {url}",
    },
    "es": {
        "hello": "¡Hola! ¿En qué puedo ayudarte?",
        "reset": "La conversación se borró. Empecemos de nuevo.",
        "usage_off": "Los detalles de uso no están disponibles en este chat.",
        "usage_title": "Uso de esta sesión de chat",
        "conversation": "Tokens en la conversación actual",
        "input": "Tokens de entrada",
        "output": "Tokens de salida",
        "total": "Tokens en total",
        "messages": "Mensajes",
        "limits": "Límites",
        "max_tokens": "tokens por conversación",
        "max_input": "tokens por mensaje",
        "per_hour": "mensajes por hora",
        "none": "ninguno",
        "limit": "Esta conversación alcanzó un límite de este chat. "
        "Envía /reset para empezar de nuevo o inténtalo más tarde.",
        "rate": "Enviaste demasiados mensajes. Espera {wait} e inténtalo de nuevo.",
        "model": "El asistente no está disponible ahora. Inténtalo de nuevo en un momento.",
        "expired": "Esta conversación expiró. Envía tu mensaje otra vez para empezar otra.",
        "unsupported": "Lo siento, solo puedo leer mensajes de texto.",
        "too_long": "Tu mensaje es demasiado largo para este chat. Envía uno más corto.",
        "not_read": "(Solo puedo leer texto, así que respondí al texto de tu mensaje.)",
        "image_failed": "Lo siento, no pude abrir esa imagen. Envíala de nuevo.",
        "image_too_large": "Esa imagen es demasiado grande para mí. Envía una más pequeña.",
        "unsupported_again": "(no leído: solo texto)",
        "linked": "Listo: este chat ahora continúa tu conversación de la página web.",
        "link_invalid": "Este enlace no es válido, ya se usó o expiró. "
        "Abre la página del chat y elige “Continuar” otra vez.",
        "link_group": "Abre este enlace en un chat privado conmigo.",
        "web": "Continúa esta conversación en la web: {url}",
    },
}


def texts_for(client: ChatClient) -> dict[str, str]:
    """The text table of the client's language (English when unset or unknown)."""
    return TEXTS.get(client.client_parameters.language_code or "en", TEXTS["en"])


def parse_command(text: str) -> Command | None:
    """`/reset`, `/reset@MyBot` and `/RESET extra` -> "reset"; other text -> None."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    word = stripped.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()
    return word if word in COMMANDS else None  # type: ignore[return-value]


def command_argument(text: str) -> str:
    """What follows the command word: `/start cw-abc` -> "cw-abc"."""
    parts = text.strip().split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def hello_text(client: ChatClient) -> str:
    """The /start greeting: the client's helloLabel (and sub label), else a default."""
    parameters = client.client_parameters
    if parameters.hello_label:
        parts = [parameters.hello_label, parameters.hello_sub_label or ""]
        return "\n".join(part for part in parts if part)
    return texts_for(client)["hello"]


def usage_text(client: ChatClient, session: Session) -> str:
    """The /usage answer: token usage and limits when debug is on, else a short notice."""
    texts = texts_for(client)
    if not client.client_parameters.debug:
        return texts["usage_off"]
    limits = client.limiting_parameters
    usage = session.usage
    messages = str(session.message_count)
    if limits.max_messages:
        messages += f" / {limits.max_messages}"
    limit_parts = []
    if limits.max_conversation_tokens:
        limit_parts.append(f"{limits.max_conversation_tokens} {texts['max_tokens']}")
    if limits.user_input_max_tokens:
        limit_parts.append(f"{limits.user_input_max_tokens} {texts['max_input']}")
    if limits.messages_per_hour:
        limit_parts.append(f"{limits.messages_per_hour} {texts['per_hour']}")
    conversation = str(getattr(session, "conversation_usage", usage).total_tokens)
    if limits.max_conversation_tokens:
        conversation += f" / {limits.max_conversation_tokens}"
    lines = [
        texts["usage_title"],
        f"{texts['input']}: {usage.input_tokens}",
        f"{texts['output']}: {usage.output_tokens}",
        f"{texts['total']}: {usage.total_tokens}",
        f"{texts['conversation']}: {conversation}",
        f"{texts['messages']}: {messages}",
        f"{texts['limits']}: {', '.join(limit_parts) or texts['none']}",
    ]
    return "\n".join(lines)


def wait_text(seconds: float | None) -> str:
    """A waiting time people read at a glance: "20 s" or "45 min" (same units in en/pt/es)."""
    total = math.ceil(seconds or 1)
    return f"{total} s" if total < 90 else f"{math.ceil(total / 60)} min"
