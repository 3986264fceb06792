package org.oscariac.flowcheck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.nifi.annotation.behavior.SupportsSensitiveDynamicProperties;
import org.apache.nifi.components.PropertyDescriptor;
import org.apache.nifi.flow.VersionedConnection;
import org.apache.nifi.flow.VersionedParameter;
import org.apache.nifi.flow.VersionedParameterContext;
import org.apache.nifi.flow.VersionedProcessGroup;
import org.apache.nifi.flow.VersionedProcessor;
import org.apache.nifi.flow.VersionedPropertyDescriptor;
import org.apache.nifi.processor.Processor;
import org.apache.nifi.processor.Relationship;
import org.apache.nifi.registry.flow.RegisteredFlowSnapshot;
import org.apache.nifi.util.MockFlowFile;
import org.apache.nifi.util.TestRunner;
import org.apache.nifi.util.TestRunners;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Checks oscar-iac's generated NiFi flow definition with NiFi's own classes.
 *
 * <p>Inputs (written by tests/nifi/test_nifi_flowcheck.py into -Dflowcheck.dir):
 * flow.json (the definition as uploaded, with #{parameter} references), flow-substituted.json
 * (the same with test values for every parameter: nifi-mock has no parameter contexts and
 * processors refuse references in URLs) and expect.json (the test values).
 */
class FlowCheckTest {
    private static final Pattern PARAM_REF = Pattern.compile("#\\{([^}]+)}");
    private static final ObjectMapper STRICT = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);

    private static Path dir;
    private static RegisteredFlowSnapshot raw;
    private static RegisteredFlowSnapshot substituted;
    private static JsonNode expect;

    private static HttpServer server;
    private static final ConcurrentLinkedQueue<Integer> statuses = new ConcurrentLinkedQueue<>();
    private static final List<Map<String, String>> requests = Collections.synchronizedList(new ArrayList<>());

    @BeforeAll
    static void load() throws IOException {
        dir = Path.of(System.getProperty("flowcheck.dir"));
        raw = STRICT.readValue(dir.resolve("flow.json").toFile(), RegisteredFlowSnapshot.class);
        substituted = STRICT.readValue(dir.resolve("flow-substituted.json").toFile(), RegisteredFlowSnapshot.class);
        expect = new ObjectMapper().readTree(dir.resolve("expect.json").toFile());

        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            final Map<String, String> seen = new HashMap<>();
            seen.put("method", exchange.getRequestMethod());
            seen.put("path", exchange.getRequestURI().getPath());
            seen.put("authorization", String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
            seen.put("content-type", String.valueOf(exchange.getRequestHeaders().getFirst("Content-Type")));
            seen.put("body", new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            requests.add(seen);
            final Integer status = statuses.poll();
            // OSCAR answers POST /job/{service} with 201 and no body (swagger v4.1.2).
            exchange.sendResponseHeaders(status == null ? 201 : status, -1);
            exchange.close();
        });
        server.start();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.stop(0);
        }
    }

    private static VersionedProcessGroup group(final RegisteredFlowSnapshot snapshot) {
        final VersionedProcessGroup group = snapshot.getFlowContents();
        assertNotNull(group, "flowContents missing");
        return group;
    }

    private static VersionedProcessor processor(final RegisteredFlowSnapshot snapshot, final String simpleType) {
        final List<VersionedProcessor> found = group(snapshot).getProcessors().stream()
                .filter(p -> p.getType().endsWith("." + simpleType))
                .toList();
        assertEquals(1, found.size(), "expected one " + simpleType + " in the flow");
        return found.get(0);
    }

    @SuppressWarnings("unchecked")
    private static TestRunner runner(final VersionedProcessor p) throws ClassNotFoundException {
        final Class<? extends Processor> type = (Class<? extends Processor>) Class.forName(p.getType());
        final TestRunner runner = TestRunners.newTestRunner(type);
        p.getProperties().forEach(runner::setProperty);
        return runner;
    }

    @Test
    void strictParsingRejectsNiFi1Variables() throws IOException {
        final ObjectNode tree = (ObjectNode) new ObjectMapper().readTree(dir.resolve("flow.json").toFile());
        ((ObjectNode) tree.get("flowContents")).putObject("variables").put("dcache.password", "x");
        assertThrows(UnrecognizedPropertyException.class,
                () -> STRICT.treeToValue(tree, RegisteredFlowSnapshot.class),
                "NiFi 2's flow classes have no variable registry (NIFI-12505)");
    }

    @Test
    void parameterContextHoldsEveryReferenceAndSecretsAreSensitive() {
        final VersionedProcessGroup group = group(raw);
        final String contextName = group.getParameterContextName();
        assertNotNull(contextName, "the group must be bound to a parameter context");
        final VersionedParameterContext context = raw.getParameterContexts().get(contextName);
        assertNotNull(context, "parameter context " + contextName + " is not in the definition");
        final Map<String, VersionedParameter> params = context.getParameters().stream()
                .collect(Collectors.toMap(VersionedParameter::getName, p -> p));
        for (final String secret : List.of("oscar-authorization", "dcache-credential")) {
            assertTrue(params.get(secret).isSensitive(), secret + " must be a sensitive parameter");
            assertEquals(null, params.get(secret).getValue(), secret + " must carry no value in the definition");
        }
        for (final VersionedProcessor p : group.getProcessors()) {
            final Map<String, VersionedPropertyDescriptor> descriptors = p.getPropertyDescriptors();
            p.getProperties().forEach((name, value) -> {
                final Matcher m = PARAM_REF.matcher(value);
                while (m.find()) {
                    final VersionedParameter param = params.get(m.group(1));
                    assertNotNull(param, p.getName() + "." + name + " references unknown parameter " + m.group(1));
                    if (param.isSensitive()) {
                        final VersionedPropertyDescriptor d = descriptors.get(name);
                        assertTrue(d != null && d.isSensitive(),
                                p.getName() + "." + name + " references a sensitive parameter but is not sensitive");
                        // NiFi: a sensitive property may hold only a single parameter reference.
                        assertEquals("#{" + param.getName() + "}", value);
                    }
                }
            });
        }
    }

    @Test
    void everyProcessorIsValidForTheRealProcessorClass() throws Exception {
        final Set<String> types = new HashSet<>();
        for (final VersionedProcessor p : group(substituted).getProcessors()) {
            assertEquals("org.apache.nifi", p.getBundle().getGroup());
            assertEquals("nifi-standard-nar", p.getBundle().getArtifact());
            final TestRunner runner = runner(p);
            runner.assertValid();
            types.add(p.getType());
            // Sensitive dynamic properties only where the processor supports them.
            for (final VersionedPropertyDescriptor d : p.getPropertyDescriptors().values()) {
                if (d.isDynamic() && d.isSensitive()) {
                    assertTrue(runner.getProcessor().getClass().isAnnotationPresent(SupportsSensitiveDynamicProperties.class),
                            p.getType() + " does not support sensitive dynamic properties (" + d.getName() + ")");
                }
                final PropertyDescriptor real = runner.getProcessor().getPropertyDescriptor(d.getName());
                assertEquals(d.isDynamic(), real.isDynamic(), d.getName() + " dynamic flag differs from " + p.getType());
            }
        }
        assertEquals(6, types.size(), "six distinct processors expected: " + types);
    }

    @Test
    void everyRelationshipGoesSomewhereAndNoEventIsDropped() throws Exception {
        final VersionedProcessGroup group = group(substituted);
        final Map<String, Set<String>> routed = new HashMap<>();
        for (final VersionedConnection c : group.getConnections()) {
            routed.computeIfAbsent(c.getSource().getId(), k -> new HashSet<>()).addAll(c.getSelectedRelationships());
            assertTrue(group.getProcessors().stream().anyMatch(p -> p.getIdentifier().equals(c.getDestination().getId())),
                    "connection to an unknown component");
        }
        for (final VersionedProcessor p : group.getProcessors()) {
            final TestRunner runner = runner(p);
            final Set<String> real = runner.getProcessor().getRelationships().stream()
                    .map(Relationship::getName).collect(Collectors.toSet());
            final Set<String> handled = new HashSet<>(p.getAutoTerminatedRelationships());
            handled.addAll(routed.getOrDefault(p.getIdentifier(), Set.of()));
            assertEquals(real, handled, p.getName() + ": every relationship of " + p.getType()
                    + " must be connected or auto-terminated, and no other");
            assertTrue(real.containsAll(p.getRetriedRelationships()), p.getName() + " retries unknown relationships");
        }
        final VersionedProcessor post = processor(substituted, "InvokeHTTP");
        for (final String rel : List.of("Failure", "Retry", "No Retry")) {
            assertFalse(post.getAutoTerminatedRelationships().contains(rel), "InvokeHTTP " + rel + " must keep the event");
        }
        assertEquals(Set.of("Failure", "Retry"), post.getRetriedRelationships());
        assertEquals("PENALIZE_FLOWFILE", String.valueOf(post.getBackoffMechanism()));
        assertTrue(post.getRetryCount() > 0);
        final VersionedProcessor put = processor(substituted, "PutFile");
        assertFalse(put.getAutoTerminatedRelationships().contains("failure"), "PutFile failure must keep the event");
    }

    @Test
    void upstreamFactExecuteProcessCannotCarrySecrets() throws Exception {
        // NiFi 2.x: ExecuteProcess has no @SupportsSensitiveDynamicProperties, ExecuteStreamCommand
        // has it and passes dynamic properties to the process environment (ExecuteStreamCommand.java).
        assertFalse(Class.forName("org.apache.nifi.processors.standard.ExecuteProcess")
                .isAnnotationPresent(SupportsSensitiveDynamicProperties.class));
        assertTrue(Class.forName("org.apache.nifi.processors.standard.ExecuteStreamCommand")
                .isAnnotationPresent(SupportsSensitiveDynamicProperties.class));
    }

    @Test
    void anUploadTravelsFromTheListenerToOscar() throws Exception {
        // 1. GenerateFlowFile makes the trigger whose content is the listener's config.
        final TestRunner trigger = runner(processor(substituted, "GenerateFlowFile"));
        trigger.run();
        trigger.assertAllFlowFilesTransferred("success", 1);
        final byte[] config = trigger.getFlowFilesForRelationship("success").get(0).toByteArray();
        assertEquals(expect.get("listener_config").asText(), new String(config, StandardCharsets.UTF_8));

        // 2. ExecuteStreamCommand runs the launcher (roles/nifi/files/run-listener.sh) with the
        //    listener stand-in; the credential reaches it only through the environment.
        final TestRunner listener = runner(processor(substituted, "ExecuteStreamCommand"));
        listener.setProperty("OSCAR_IAC_LISTENER", expect.get("listener").asText());
        listener.enqueue(config);
        listener.run();
        listener.assertTransferCount("original", 1);
        listener.assertTransferCount("output stream", 1);
        listener.assertTransferCount("nonzero status", 0);
        final String args = listener.getFlowFilesForRelationship("original").get(0).getAttribute("execution.command.args");
        assertFalse(args.contains(expect.get("credential").asText()), "credential on the command line");

        final Path work = Path.of(expect.get("work_dir").asText());
        final Path configFile = work.resolve("listener.json");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(configFile)));
        final List<Path> spooled;
        try (var files = Files.list(work.resolve("spool"))) {
            spooled = files.toList();
        }
        assertEquals(1, spooled.size(), "the listener stand-in spools one event");
        final String event = Files.readString(spooled.get(0));

        // 3. GetFile takes the complete spool file of this source only: not a file the
        //    listener is still writing (hidden), not another source's spool, not the kept
        //    failures. (Removing the taken file is StandardProcessSession.importFrom's job in
        //    NiFi; nifi-mock's importFrom keeps it, so that part is not checked here.)
        Files.writeString(work.resolve("spool").resolve(".ch1_2.json.tmp"), "{\"partial\": true");
        Files.createDirectories(work.resolve("failed"));
        Files.writeString(work.resolve("failed").resolve("old.json"), "{}");
        final Path other = work.getParent().resolve("demo-other-source").resolve("spool");
        Files.createDirectories(other);
        Files.writeString(other.resolve("ch9_1.json"), "{}");
        final TestRunner spool = runner(processor(substituted, "GetFile"));
        spool.run();
        spool.assertAllFlowFilesTransferred("success", 1);
        final MockFlowFile picked = spool.getFlowFilesForRelationship("success").get(0);
        picked.assertContentEquals(event);
        Files.delete(work.resolve("failed").resolve("old.json"));

        // 4. InvokeHTTP posts it unchanged to /job/<service> with the service token.
        final VersionedProcessor postDef = processor(substituted, "InvokeHTTP");
        final TestRunner post = runner(postDef);
        final URI configured = URI.create(postDef.getProperties().get("HTTP URL"));
        final URI local = new URI("http", null, "127.0.0.1", server.getAddress().getPort(), configured.getPath(), null, null);
        post.setProperty("HTTP URL", local.toString());
        post.assertValid();

        requests.clear();
        statuses.add(201);
        post.enqueue(event.getBytes(StandardCharsets.UTF_8), picked.getAttributes());
        post.run();
        post.assertTransferCount("Original", 1);
        assertEquals(1, requests.size());
        final Map<String, String> seen = requests.get(0);
        assertEquals("POST", seen.get("method"));
        assertEquals("/job/" + expect.get("service").asText(), seen.get("path"));
        assertEquals(expect.get("authorization").asText(), seen.get("authorization"));
        assertTrue(seen.get("content-type").startsWith("application/json"), seen.get("content-type"));
        assertEquals(event, seen.get("body"));

        // OSCAR busy (503): Retry, penalized; the flow loops it back (never dropped).
        post.clearTransferState();
        statuses.add(503);
        post.enqueue(event.getBytes(StandardCharsets.UTF_8), picked.getAttributes());
        post.run();
        post.assertTransferCount("Retry", 1);
        assertTrue(post.getFlowFilesForRelationship("Retry").get(0).isPenalized());

        // Wrong token / missing service (4xx): No Retry -> PutFile keeps it.
        post.clearTransferState();
        statuses.add(401);
        post.enqueue(event.getBytes(StandardCharsets.UTF_8), picked.getAttributes());
        post.run();
        post.assertTransferCount("No Retry", 1);
        final MockFlowFile rejected = post.getFlowFilesForRelationship("No Retry").get(0);

        // OSCAR unreachable: Failure (retried, then looped back).
        post.clearTransferState();
        final URI closed = new URI("http", null, "127.0.0.1", freePort(), configured.getPath(), null, null);
        post.setProperty("HTTP URL", closed.toString());
        post.enqueue(event.getBytes(StandardCharsets.UTF_8), picked.getAttributes());
        post.run();
        post.assertTransferCount("Failure", 1);

        // 5. PutFile keeps the rejected event, owner-only.
        final TestRunner keep = runner(processor(substituted, "PutFile"));
        keep.enqueue(rejected.toByteArray(), rejected.getAttributes());
        keep.run();
        keep.assertAllFlowFilesTransferred("success", 1);
        final List<Path> kept;
        try (var files = Files.list(work.resolve("failed"))) {
            kept = files.toList();
        }
        assertEquals(1, kept.size());
        assertEquals(event, Files.readString(kept.get(0)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(kept.get(0))));
    }

    private static int freePort() throws IOException {
        try (var socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }
}
