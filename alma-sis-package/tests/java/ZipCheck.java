// Opens each zip the way Alma (a Java program) may: java.util.zip.ZipFile, and again as a
// stream with java.util.zip.ZipInputStream, then the JDK's SAX parser on every entry, with
// DTDs and external entities disabled. Prints one line per entry (from ZipFile):
//   <zip path>\t<entry name>\t<user count>
// and exits 1 on the first zip or entry that cannot be read, or when the two readers differ.
//
// Run with Java 11 or later as a single-file program: java ZipCheck.java a.zip b.zip

import java.io.FileInputStream;
import java.io.FilterInputStream;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Enumeration;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;
import javax.xml.XMLConstants;
import javax.xml.parsers.SAXParser;
import javax.xml.parsers.SAXParserFactory;
import org.xml.sax.Attributes;
import org.xml.sax.helpers.DefaultHandler;

public class ZipCheck {
    static final class UserCounter extends DefaultHandler {
        int depth = 0;
        long users = 0;

        @Override
        public void startElement(String uri, String local, String qName, Attributes atts) {
            if (depth == 1 && qName.equals("user")) {
                users++;
            }
            depth++;
        }

        @Override
        public void endElement(String uri, String local, String qName) {
            depth--;
        }
    }

    /** Keeps the parser from closing the zip stream at the end of each entry. */
    static final class Unclosed extends FilterInputStream {
        Unclosed(InputStream in) {
            super(in);
        }

        @Override
        public void close() {}
    }

    public static void main(String[] args) throws Exception {
        SAXParserFactory factory = SAXParserFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        factory.setFeature("http://xml.org/sax/features/external-general-entities", false);
        factory.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
        factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        factory.setNamespaceAware(false);
        for (String path : args) {
            try {
                List<String> lines = new ArrayList<>();
                try (ZipFile zip = new ZipFile(path)) {
                    Enumeration<? extends ZipEntry> entries = zip.entries();
                    while (entries.hasMoreElements()) {
                        ZipEntry entry = entries.nextElement();
                        UserCounter counter = new UserCounter();
                        SAXParser parser = factory.newSAXParser();
                        try (InputStream in = zip.getInputStream(entry)) {
                            parser.parse(in, counter);
                        }
                        lines.add(path + "\t" + entry.getName() + "\t" + counter.users);
                    }
                }
                List<String> streamed = new ArrayList<>();
                try (ZipInputStream zin = new ZipInputStream(new FileInputStream(path))) {
                    ZipEntry entry;
                    while ((entry = zin.getNextEntry()) != null) {
                        UserCounter counter = new UserCounter();
                        factory.newSAXParser().parse(new Unclosed(zin), counter);
                        streamed.add(path + "\t" + entry.getName() + "\t" + counter.users);
                    }
                }
                if (!lines.equals(streamed)) {
                    throw new IllegalStateException(
                            "ZipFile reads " + lines + " but ZipInputStream reads " + streamed);
                }
                lines.forEach(System.out::println);
            } catch (Exception e) {
                System.err.println(path + ": " + e);
                System.exit(1);
            }
        }
    }
}
