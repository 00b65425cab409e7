// The Java side of `cargo xtask fuzz-check`: reads zips the way a Java loader does and says
// what the JDK rejects. Not a model of Alma; a stand-in for "the JDK as Alma's loader uses it":
//
// - java.util.zip.ZipFile: opens the zip and reads every entry;
// - java.util.zip.ZipInputStream: reads it again as a stream, entry by entry (CRC and sizes
//   are checked at the end of each entry);
// - the JDK's SAX parser (namespace aware, DOCTYPE disallowed, secure processing) with schema
//   validation against rest_users.xsd, on every *.xml entry.
//
// Usage: java -cp DIR CheckReference XSD < paths
// For every path read from stdin (one per line) it prints, tab-separated:
//   FILE  path
//   Z     ZipFile|ZipInputStream|both   message        a zip reader failed or they disagree
//   X     entry                                         an XML entry was parsed
//   F     entry  line  column  message                 fatal parse error (parsing stops)
//   S     entry  line  column  path  text  message     schema error (validation goes on)
//   END
// Tabs, newlines and backslashes in fields are written as \t, \n and \\.

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.Enumeration;
import java.util.List;
import java.util.Locale;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;
import javax.xml.XMLConstants;
import javax.xml.parsers.SAXParserFactory;
import javax.xml.validation.Schema;
import javax.xml.validation.SchemaFactory;
import org.xml.sax.Attributes;
import org.xml.sax.SAXParseException;
import org.xml.sax.helpers.DefaultHandler;

public class CheckReference {
    /** One entry as a reader saw it. */
    record Entry(String name, byte[] bytes) {}

    static PrintStream out;

    static String esc(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> b.append("\\\\");
                case '\t' -> b.append("\\t");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    static void line(String... fields) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < fields.length; i++) {
            if (i > 0) {
                b.append('\t');
            }
            b.append(i == 0 ? fields[i] : esc(fields[i]));
        }
        out.println(b);
    }

    static boolean isXml(String name) {
        return !name.endsWith("/") && name.toLowerCase(Locale.ROOT).endsWith(".xml");
    }

    /** Records schema errors with where they happened; stops at a fatal error. */
    static final class Handler extends DefaultHandler {
        final String entry;
        final Deque<String> path = new ArrayDeque<>();
        final StringBuilder text = new StringBuilder();
        /** The text gathered is only kept up to this many characters. */
        static final int TEXT_KEPT = 64;
        long textLength = 0;

        Handler(String entry) {
            this.entry = entry;
        }

        @Override
        public void startElement(String uri, String local, String qName, Attributes atts) {
            path.addLast(qName);
            text.setLength(0);
            textLength = 0;
        }

        @Override
        public void endElement(String uri, String local, String qName) {
            path.removeLast();
            text.setLength(0);
            textLength = 0;
        }

        @Override
        public void characters(char[] ch, int start, int length) {
            textLength += length;
            int keep = Math.min(length, TEXT_KEPT - text.length());
            if (keep > 0) {
                text.append(ch, start, keep);
            }
        }

        @Override
        public void warning(SAXParseException e) {}

        @Override
        public void error(SAXParseException e) {
            String where = String.join("/", path);
            String shown = textLength > TEXT_KEPT ? text + "..." : text.toString();
            line("S", entry, Integer.toString(e.getLineNumber()),
                    Integer.toString(e.getColumnNumber()), where, shown, e.getMessage());
        }

        @Override
        public void fatalError(SAXParseException e) throws SAXParseException {
            throw e;
        }
    }

    public static void main(String[] args) throws Exception {
        out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false,
                StandardCharsets.UTF_8);
        SchemaFactory schemas = SchemaFactory.newInstance(XMLConstants.W3C_XML_SCHEMA_NS_URI);
        Schema schema = schemas.newSchema(new File(args[0]));
        SAXParserFactory factory = SAXParserFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        factory.setSchema(schema);
        BufferedReader paths = new BufferedReader(
                new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String path;
        while ((path = paths.readLine()) != null) {
            if (path.isEmpty()) {
                continue;
            }
            line("FILE", path);
            check(path, factory);
            line("END");
            out.flush();
        }
    }

    static void check(String path, SAXParserFactory factory) {
        List<Entry> fromFile = new ArrayList<>();
        boolean fileOk = true;
        try (ZipFile zip = new ZipFile(path)) {
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements()) {
                ZipEntry entry = entries.nextElement();
                byte[] bytes = zip.getInputStream(entry).readAllBytes();
                if (isXml(entry.getName())) {
                    fromFile.add(new Entry(entry.getName(), bytes));
                }
            }
        } catch (Throwable e) {
            fileOk = false;
            line("Z", "ZipFile", e.toString());
        }
        List<Entry> fromStream = new ArrayList<>();
        boolean streamOk = true;
        try (ZipInputStream zin = new ZipInputStream(new FileInputStream(path))) {
            ZipEntry entry;
            while ((entry = zin.getNextEntry()) != null) {
                byte[] bytes = zin.readAllBytes();
                if (isXml(entry.getName())) {
                    fromStream.add(new Entry(entry.getName(), bytes));
                }
            }
        } catch (Throwable e) {
            streamOk = false;
            line("Z", "ZipInputStream", e.toString());
        }
        if (fileOk && streamOk && !same(fromFile, fromStream)) {
            line("Z", "both", "ZipFile reads the XML entries " + names(fromFile)
                    + ", ZipInputStream " + names(fromStream)
                    + (names(fromFile).equals(names(fromStream)) ? " with other bytes" : ""));
        }
        List<Entry> toParse = streamOk ? fromStream : fromFile;
        if (!streamOk && !fileOk) {
            return;
        }
        for (Entry entry : toParse) {
            line("X", entry.name());
            Handler handler = new Handler(entry.name());
            try {
                factory.newSAXParser().parse(new ByteArrayInputStream(entry.bytes()), handler);
            } catch (SAXParseException e) {
                line("F", entry.name(), Integer.toString(e.getLineNumber()),
                        Integer.toString(e.getColumnNumber()), e.getMessage());
            } catch (Throwable e) {
                line("F", entry.name(), "0", "0", e.toString());
            }
        }
    }

    static boolean same(List<Entry> a, List<Entry> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (!a.get(i).name().equals(b.get(i).name())
                    || !Arrays.equals(a.get(i).bytes(), b.get(i).bytes())) {
                return false;
            }
        }
        return true;
    }

    static List<String> names(List<Entry> entries) {
        List<String> names = new ArrayList<>();
        for (Entry e : entries) {
            names.add(e.name());
        }
        return names;
    }
}
